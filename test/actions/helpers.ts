// Test helpers for the actions: a fake clock, an ActionContext around a FakeRunner, and the recorded
// virsh output in test/fixtures/virsh/.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import type { ActionContext, LogSeverity } from '../../src/actions/context.js';
import { readKvmConfig } from '../../src/config/kvm-config.js';
import { FakeRunner, type FakeReply } from '../../src/host/fake-runner.js';
import { OnevmmError } from '../../src/util/errors.js';

const FIXTURES = path.join(import.meta.dirname, '../fixtures/virsh');

// Every virsh command of the actions starts with this (default COMMAND_TIMEOUT and LIBVIRT_URI).
export const VIRSH = 'LC_ALL=C timeout --kill-after=5s 60s virsh --connect qemu:///system';

// A fixture's text without its header (the leading lines that start with '#').
export function readVirshFixture(name: string): string {
  const lines = readFileSync(path.join(FIXTURES, name), 'utf8').split('\n');
  const start = lines.findIndex((line) => !line.startsWith('#'));
  return lines.slice(start < 0 ? lines.length : start).join('\n');
}

interface RecordedReply {
  readonly command: string;
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

const RECORDED = JSON.parse(
  readFileSync(path.join(FIXTURES, 'test-driver-replies.json'), 'utf8'),
) as Readonly<Record<string, RecordedReply>>;

export type RecordedName =
  | 'domstate-running'
  | 'domstate-paused'
  | 'domstate-shut-off'
  | 'domstate-missing'
  | 'domuuid'
  | 'shutdown-running'
  | 'shutdown-not-running'
  | 'destroy-running'
  | 'destroy-not-running'
  | 'destroy-missing'
  | 'domstats-missing'
  | 'libvirtd-down'
  | 'dumpxml-no-acpi'
  | 'dumpxml-acpi';

// A recorded virsh reply (exit code, stdout, stderr); `domain` renames the recorded `'one-N'` in it.
export function recorded(name: RecordedName, domain?: string): FakeReply {
  const reply = RECORDED[name];
  if (reply === undefined) throw new Error(`no recorded reply ${name}`);
  const rename = (text: string): string =>
    domain === undefined ? text : text.replace(/'one-\d+'/g, `'${domain}'`);
  return { exitCode: reply.exitCode, stdout: rename(reply.stdout), stderr: rename(reply.stderr) };
}

// Time that moves only when the action sleeps.
export interface FakeClock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  // Milliseconds since the clock was made.
  elapsed(): number;
  readonly sleeps: number[];
}

export function createFakeClock(start = 1_700_000_000_000): FakeClock {
  let now = start;
  const sleeps: number[] = [];
  return {
    now: () => now,
    sleep: (ms, signal) => {
      if (signal?.aborted) return Promise.reject(signal.reason as Error);
      sleeps.push(ms);
      now += ms;
      return Promise.resolve();
    },
    elapsed: () => now - start,
    sleeps,
  };
}

export interface TestContext {
  readonly ctx: ActionContext;
  readonly runner: FakeRunner;
  readonly clock: FakeClock;
  readonly logs: [LogSeverity, string][];
}

// An ActionContext with a FakeRunner, a fake clock, captured logs and the settings from `vars` (kvmrc).
export function createTestContext(
  vars: Readonly<Record<string, string>> = {},
  options: { readonly signal?: AbortSignal; readonly runner?: FakeRunner } = {},
): TestContext {
  const runner = options.runner ?? new FakeRunner();
  const clock = createFakeClock();
  const logs: [LogSeverity, string][] = [];
  const ctx: ActionContext = {
    runner,
    config: readKvmConfig(vars),
    log: (severity, message) => logs.push([severity, message]),
    sleep: (ms, signal) => clock.sleep(ms, signal),
    now: () => clock.now(),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  };
  return { ctx, runner, clock, logs };
}

// The OnevmmError an action rejects with (fails the test when it resolves or throws anything else).
export async function failure(promise: Promise<unknown>): Promise<OnevmmError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(OnevmmError);
  return error as OnevmmError;
}

// The fixed script deploy writes its files with (the texts on stdin, their byte counts as arguments).
export const WRITE_SCRIPT =
  'dir=$1; mkdir -p -- "$dir" || exit 1; shift; while [ $# -gt 0 ]; do head -c "$2" > "$1" || exit 1; shift 2; done; set -- "$dir"; for f in "$1"/snap-*.xml; do [ -f "$f" ] && printf "%s\\n" "$f"; done; exit 0';
