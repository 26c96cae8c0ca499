// The testbed as the driver e2e tests use it: four hosts, of which these tests act on tb-h3 and
// tb-h4 (tb-h1 and tb-h2 belong to other suites, which inject faults there). `testbed.sh up` repairs
// any fault it finds (a link left down, a stopped libvirtd), so it is only run when a host we need
// is missing or broken, and after the other suites' short faults are over.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './guest.js';
import {
  ensureTestbed,
  hostRun,
  setLinkDown,
  setLinkUp,
  startLibvirtd,
  stopLibvirtd,
  tryReadInfo,
  type TestbedHost,
  type TestbedInfo,
} from './testbed.js';

const SCRIPT = path.join(ROOT, 'testbed', 'testbed.sh');

export interface HostStatus {
  readonly sshd: boolean;
  readonly libvirtd: boolean;
  readonly link: boolean;
}

// Per host: sshd, libvirtd and link up (from `testbed.sh status`).
export function readHostStatus(): Map<string, HostStatus> {
  const run = spawnSync('bash', [SCRIPT, 'status'], { encoding: 'utf8', timeout: 60_000 });
  const hosts = new Map<string, HostStatus>();
  for (const match of `${run.stdout}\n${run.stderr}`.matchAll(
    /^\s+(\S+)\s+\S+\s+sshd (\w+)\s+libvirtd (\w+)\s+link (\w+)/gm,
  )) {
    hosts.set(match[1] ?? '', {
      sshd: match[2] === 'up',
      libvirtd: match[3] === 'up',
      link: match[4] === 'up',
    });
  }
  return hosts;
}

function healthy(status: HostStatus | undefined): boolean {
  return status !== undefined && status.sshd && status.libvirtd && status.link;
}

// A testbed of at least n hosts in which every host of `need` is up.
export async function ensureDriverTestbed(n: number, need: readonly string[]): Promise<TestbedInfo> {
  const info = tryReadInfo();
  if (info && info.hosts.length >= n) {
    const status = readHostStatus();
    if (need.every((name) => healthy(status.get(name)))) return info;
  }
  // Something must be (re)built: give the other suites' faults (a few seconds each) time to end.
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const status = readHostStatus();
    if ([...status.values()].every(healthy)) break;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  return ensureTestbed(n);
}

// The testbed host called `name`.
export function hostNamed(tb: TestbedInfo, name: string): TestbedHost {
  const host = tb.hosts.find((h) => h.name === name);
  if (!host) throw new Error(`the testbed has no host ${name}`);
  return host;
}

// Destroys a domain directly with virsh on the host (cleanup must not depend on the driver).
export function destroyOnHost(host: TestbedHost, domain: string): void {
  hostRun(host, ['virsh', '--connect', 'qemu:///system', 'destroy', domain]);
  hostRun(host, ['virsh', '--connect', 'qemu:///system', 'undefine', domain]);
}

// The state virsh reports for a domain on the host ('' when libvirt does not know it).
export function domainState(host: TestbedHost, domain: string): string {
  const run = hostRun(host, ['virsh', '--connect', 'qemu:///system', 'domstate', domain]);
  return run.status === 0 ? run.stdout.trim() : '';
}

// Resolves once check() holds; rejects after timeoutMs.
export async function waitUntil(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

// The PID of the host's sshd listener (its pid file, checked to name an sshd).
export function sshdPid(tb: TestbedInfo, host: TestbedHost): number {
  const pid = Number(readFileSync(path.join(tb.dir, host.name, 'sshd.pid'), 'utf8').trim());
  const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  if (comm !== 'sshd') throw new Error(`${host.name}: sshd.pid names ${pid}, a ${comm}`);
  return pid;
}

// A fault on a testbed host: how to inject and repair it, and how `testbed.sh status` shows it.
export interface Fault {
  readonly name: string;
  inject(): void;
  repair(): void;
  held(status: ReadonlyMap<string, HostStatus>): boolean;
}

export const linkDown = (host: TestbedHost): Fault => ({
  name: `${host.name} link down`,
  inject: () => setLinkDown(host),
  repair: () => setLinkUp(host),
  held: (status) => status.get(host.name)?.link === false,
});

export const libvirtdStopped = (host: TestbedHost): Fault => ({
  name: `${host.name} libvirtd stopped`,
  inject: () => stopLibvirtd(host),
  repair: () => startLibvirtd(host),
  held: (status) => status.get(host.name)?.libvirtd === false,
});

// Runs body with the faults injected and repairs them in any case. Another suite's `testbed.sh up`
// repairs every fault it finds, so the faults are checked to be still there once body is over; if
// one was undone, body runs again (up to `attempts` times).
export async function underFaults<T>(
  faults: readonly Fault[],
  body: () => Promise<T>,
  attempts = 3,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    let result: T;
    let held = false;
    const injected: Fault[] = [];
    try {
      for (const fault of faults) {
        fault.inject();
        injected.push(fault);
      }
      result = await body();
      const status = readHostStatus();
      held = faults.every((fault) => fault.held(status));
    } finally {
      for (const fault of injected.reverse()) fault.repair();
    }
    if (held) return result;
    if (attempt >= attempts)
      throw new Error(`${faults.map((f) => f.name).join(', ')}: undone by someone else ${attempts} times`);
  }
}
