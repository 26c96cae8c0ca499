// Helpers for the e2e tests that drive real guests through the action executables
// (remotes/vmm/kvm/<action>): running an action as a child process, writing tiny-guest templates,
// reading the guest's serial markers, parsing poll lines and cleaning up domains.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { hostRun, readSerialLog, waitForText, type TestbedHost, type TestbedInfo } from './testbed.js';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const REMOTES_DIR = path.join(ROOT, 'remotes', 'vmm', 'kvm');
const ONEVMM = path.join(ROOT, 'bin', 'onevmm');
const TINY_TEMPLATE = path.join(ROOT, 'examples', 'tiny.tmpl');

// kvmrc variables that must not leak into the actions from the test runner's own environment
// (the process environment beats the kvmrc file).
const KVMRC_VARS = [
  'LIBVIRT_URI',
  'QEMU_PROTOCOL',
  'SHUTDOWN_TIMEOUT',
  'SHUTDOWN_RESEND',
  'FORCE_DESTROY',
  'CANCEL_NO_ACPI',
  'COMMAND_TIMEOUT',
  'MIGRATE_OPTIONS',
  'MIGRATE_TIMEOUT',
  'SYNC_TIME',
  'VIRSH_RETRIES',
  'VIRSH_TIMEOUT',
  'DEPLOYMENT_SOURCE',
  'SSH_USER',
  'SSH_PORT',
  'SSH_IDENTITY',
  'SSH_KNOWN_HOSTS',
  'SSH_HOST_KEY_POLICY',
  'SSH_CONNECT_TIMEOUT',
  'SSH_MAX_CHANNELS',
];

export interface ActionRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  // Extra environment (e.g. FORCE_DESTROY, SHUTDOWN_TIMEOUT): beats the kvmrc file.
  readonly env?: Readonly<Record<string, string>>;
  readonly stdin?: string;
  readonly cwd?: string;
  // Kills the child after this long (default 90 s); a test failure, not a hang.
  readonly timeoutMs?: number;
}

// The environment of an action: the runner's, minus kvmrc variables, plus ONEVMM_KVMRC.
export function actionEnv(tb: TestbedInfo, extra: Readonly<Record<string, string>> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of KVMRC_VARS) delete env[name];
  return { ...env, ONEVMM_KVMRC: tb.kvmrcPath, ...extra };
}

// The bundle could not be loaded: dist/ is being rebuilt (scripts/build.mjs deletes dist/ first, and
// other work in this tree rebuilds it at any time). ESM resolves static imports before running any
// code, and the dynamic imports of the bundle come before the first remote command, so such a run
// did nothing at all and is safe to repeat.
const BUNDLE_MISSING =
  /ERR_MODULE_NOT_FOUND[\s\S]*\/dist\/|Cannot find module '[^']*\/dist\/|The requested module '\.\/chunk-/;

// Runs a program as a real child process and collects its output and exit status. A run that could
// not even load dist/ (a concurrent rebuild) is repeated once dist/ is back, up to 5 times.
export async function runProgram(
  tb: TestbedInfo,
  file: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<ActionRun> {
  for (let attempt = 1; ; attempt++) {
    const result = await runOnce(tb, file, args, options);
    if (result.code === 0 || attempt >= 5 || !BUNDLE_MISSING.test(result.stderr)) return result;
    const deadline = Date.now() + 60_000;
    while (!existsSync(path.join(ROOT, 'dist', 'remote.mjs')) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    await new Promise((resolve) => setTimeout(resolve, 1000)); // let the build finish its chunks
  }
}

function runOnce(
  tb: TestbedInfo,
  file: string,
  args: readonly string[],
  options: RunOptions,
): Promise<ActionRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, [...args], {
      env: actionEnv(tb, options.env),
      cwd: options.cwd ?? ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 90_000);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    // An action that does not read stdin may exit before we write: ignore EPIPE.
    child.stdin.on('error', () => {});
    child.stdin.end(options.stdin ?? '');
  });
}

// Runs remotes/vmm/kvm/<action> with OpenNebula's arguments.
export function runAction(
  tb: TestbedInfo,
  action: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<ActionRun> {
  return runProgram(tb, path.join(REMOTES_DIR, action), args, options);
}

// The --json result line of an action (stdout carries only that line).
export function jsonResult(run: ActionRun): Record<string, unknown> {
  const line = run.stdout.trim();
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    throw new Error(
      `expected one JSON line on stdout, got ${JSON.stringify(run.stdout)} (stderr: ${run.stderr})`,
    );
  }
}

// Shows a run in assertion messages.
export function describeRun(run: ActionRun): string {
  return `exit ${run.code}${run.signal ? ` (${run.signal})` : ''}\nstdout: ${JSON.stringify(run.stdout)}\nstderr: ${JSON.stringify(run.stderr)}`;
}

const LOG_PREFIX = /^(INFO|WARNING|ERROR|DEBUG): /;

// stderr lines that OpenNebula turns into LOG lines (`INFO: …`, `WARNING: …`, `ERROR: …`).
export function logLines(stderr: string): string[] {
  return stderr.split('\n').filter((line) => LOG_PREFIX.test(line));
}

// stderr lines that are not LOG lines: on failure exactly one, the error.
export function otherLines(stderr: string): string[] {
  return stderr
    .replace(/\n$/, '')
    .split('\n')
    .filter((line) => line !== '' && !LOG_PREFIX.test(line));
}

// The one error line of a failed action; throws (with the whole run) unless there is exactly one
// clean line: no stack trace, no internal error, no control characters.
export function failureLine(run: ActionRun): string {
  const lines = otherLines(run.stderr);
  const line = lines[0] ?? '';
  const clean =
    lines.length === 1 &&
    line.trim() !== '' &&
    !/^[\w-]+: internal error|^\s+at |Error: |ERR_/.test(line) &&
    // eslint-disable-next-line no-control-regex
    !/[\u0000-\u0008\u000b-\u001f\u007f]/.test(line);
  if (!clean) throw new Error(`expected exactly one clean error line on stderr; ${describeRun(run)}`);
  return line;
}

export interface GuestOptions {
  readonly vmId: number;
  // NAME in the template (default tiny-<vmid>).
  readonly name?: string;
  // Adds the kernel argument tb_noacpid: the guest ignores the ACPI power button.
  readonly ignoreAcpi?: boolean;
}

// The tiny guest's template (examples/tiny.tmpl) for one VM id: this testbed's kernel and initrd,
// the serial log at /var/log/libvirt/qemu/one-<vmid>.serial, optionally ignoring ACPI.
export function guestTemplate(tb: TestbedInfo, options: GuestOptions): string {
  let text = readFileSync(TINY_TEMPLATE, 'utf8');
  const replace = (
    pattern: RegExp,
    value: string | ((match: string, ...groups: string[]) => string),
  ): void => {
    if (!pattern.test(text)) throw new Error(`${TINY_TEMPLATE}: no ${String(pattern)} to replace`);
    text = text.replace(pattern, typeof value === 'string' ? () => value : value);
  };
  const name = options.name ?? `tiny-${options.vmId}`;
  replace(/^NAME\s*=.*$/m, `NAME     = "${name.replace(/[\\"]/g, (c) => `\\${c}`)}"`);
  replace(/KERNEL\s*=\s*"[^"]*"/, `KERNEL     = "${tb.guest.kernel}"`);
  replace(/INITRD\s*=\s*"[^"]*"/, `INITRD     = "${tb.guest.initrd}"`);
  replace(
    /KERNEL_CMD\s*=\s*"([^"]*)"/,
    (_match, cmdline = '') => `KERNEL_CMD = "${cmdline}${options.ignoreAcpi ? ' tb_noacpid' : ''}"`,
  );
  replace(/one-100\.serial/, `one-${options.vmId}.serial`);
  return text;
}

// Writes the guest template into dir and translates it with `onevmm translate --vm-id`.
export async function guestDomainXml(tb: TestbedInfo, dir: string, options: GuestOptions): Promise<string> {
  const file = path.join(dir, `guest-${options.vmId}.tmpl`);
  writeFileSync(file, guestTemplate(tb, options));
  const run = await runProgram(tb, ONEVMM, ['translate', file, '--vm-id', String(options.vmId)]);
  if (run.code !== 0 || !run.stdout.includes('<domain')) {
    throw new Error(`onevmm translate ${file} failed; ${describeRun(run)}`);
  }
  return run.stdout;
}

// The domain name OpenNebula gives VM <vmid>.
export const domainName = (vmId: number): string => `one-${vmId}`;

// Removes the serial log of a domain on a host (it is opened with append='on': a new deploy of the
// same VM id would otherwise see the markers of an earlier run).
export function removeSerialLog(host: TestbedHost, domain: string): void {
  hostRun(host, ['rm', '-f', '--', `/var/log/libvirt/qemu/${domain}.serial`]);
}

// Waits until the serial log, from offset on, matches pattern; returns that part of the log.
export function waitForSerialAfter(
  host: TestbedHost,
  domain: string,
  offset: number,
  pattern: RegExp,
  timeoutMs = 60_000,
): Promise<string> {
  return waitForText(
    () => readSerialLog(host, domain).slice(offset),
    pattern,
    `${host.name}/${domain} serial console after offset ${offset}`,
    timeoutMs,
    100,
  );
}

// Length of the serial log so far (an offset for waitForSerialAfter).
export function serialOffset(host: TestbedHost, domain: string): number {
  return readSerialLog(host, domain).length;
}

// The heartbeat numbers (TB-HB <n>) in a piece of serial log, in order.
export function heartbeats(text: string): number[] {
  return [...text.matchAll(/^TB-HB (\d+) /gm)].map((match) => Number(match[1]));
}

// How many times the guest booted in a piece of serial log.
export function boots(text: string): number {
  return [...text.matchAll(/^TB-GUEST-UP\b/gm)].length;
}

// A poll line (`STATE=a CPU=… MEMORY=…`) as a map.
export function parsePollLine(line: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const word of line.trim().split(/\s+/)) {
    const eq = word.indexOf('=');
    if (eq > 0) fields.set(word.slice(0, eq), word.slice(eq + 1));
  }
  return fields;
}

export const POLL_KEYS = [
  'STATE',
  'CPU',
  'MEMORY',
  'NETRX',
  'NETTX',
  'DISKRDBYTES',
  'DISKWRBYTES',
  'DISKRDIOPS',
  'DISKWRIOPS',
];

// The domains libvirt knows on a host (running or defined), asked directly with virsh.
export function hostDomains(host: TestbedHost): string[] {
  const result = hostRun(host, ['virsh', '--connect', 'qemu:///system', 'list', '--all', '--name']);
  if (result.status !== 0) throw new Error(`${host.name}: virsh list failed: ${result.stderr.trim()}`);
  return result.stdout.split('\n').filter((line) => line.trim() !== '');
}

// The UUIDs of the domains on a host (works whatever their names hold).
export function hostDomainUuids(host: TestbedHost): string[] {
  const result = hostRun(host, ['virsh', '--connect', 'qemu:///system', 'list', '--all', '--uuid']);
  if (result.status !== 0) throw new Error(`${host.name}: virsh list failed: ${result.stderr.trim()}`);
  return result.stdout.split('\n').filter((line) => line.trim() !== '');
}

// Makes sure a domain is gone: the cancel action first, then virsh destroy directly on the host
// (cleanup must not depend on the code under test working).
export async function cancelDomain(tb: TestbedInfo, host: TestbedHost, domain: string): Promise<void> {
  try {
    const run = await runAction(tb, 'cancel', [domain, '0', host.address], { timeoutMs: 60_000 });
    if (run.code === 0) return;
  } catch {
    // fall through to virsh
  }
  hostRun(host, ['virsh', '--connect', 'qemu:///system', 'destroy', domain]);
  hostRun(host, ['virsh', '--connect', 'qemu:///system', 'undefine', domain]);
}

// Destroys a domain by UUID directly on the host (for domains whose names are hostile).
export function destroyByUuid(host: TestbedHost, uuid: string): void {
  hostRun(host, ['virsh', '--connect', 'qemu:///system', 'destroy', uuid]);
  hostRun(host, ['virsh', '--connect', 'qemu:///system', 'undefine', uuid]);
}

// `poll <deploy_id> <vmid> <host>`: the poll line (throws unless the action succeeds).
export async function readPoll(
  tb: TestbedInfo,
  host: TestbedHost,
  domain: string,
  vmId: number,
): Promise<string> {
  const run = await runAction(tb, 'poll', [domain, String(vmId), host.address]);
  if (run.code !== 0) throw new Error(`poll ${domain} on ${host.address} failed; ${describeRun(run)}`);
  return run.stdout.trim();
}
