// Fault tests: running the action executables (remotes/vmm/kvm/<action>) as OpenNebula does, timed,
// and deploying / removing the tiny test guest (examples/tiny.tmpl) with them.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { hostRun, readSerialLog, waitForSerial, type TestbedHost, type TestbedInfo } from './testbed.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

// kvmrc variables that a developer's shell must not leak into the executables (env beats kvmrc).
const KVMRC_VARS = [
  'LIBVIRT_URI', 'QEMU_PROTOCOL', 'SHUTDOWN_TIMEOUT', 'FORCE_DESTROY', 'CANCEL_NO_ACPI', 'MIGRATE_OPTIONS',
  'SYNC_TIME', 'VIRSH_RETRIES', 'VIRSH_TIMEOUT', 'SSH_USER', 'SSH_PORT', 'SSH_IDENTITY', 'SSH_KNOWN_HOSTS',
  'SSH_HOST_KEY_POLICY', 'SSH_CONNECT_TIMEOUT', 'SSH_MAX_CHANNELS', 'COMMAND_TIMEOUT', 'SHUTDOWN_RESEND',
]; // prettier-ignore

export interface ActionRun {
  // null when the process was killed (by the guard below or a signal).
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  // Wall time from spawn to exit.
  readonly ms: number;
  // True when the guard had to kill it: the action did not end by itself.
  readonly killed: boolean;
}

export interface StartedAction {
  readonly done: Promise<ActionRun>;
  // True until the process exited.
  running(): boolean;
}

export interface ActionOptions {
  readonly env?: Readonly<Record<string, string>>;
  readonly input?: string;
  // The process is SIGKILLed after this long (the test then fails on its time bound).
  readonly guardMs?: number;
}

// Starts remotes/vmm/kvm/<action> with ONEVMM_KVMRC=<the testbed's kvmrc> and `options.env` on top.
export function startAction(
  info: TestbedInfo,
  action: string,
  args: readonly string[],
  options: ActionOptions = {},
): StartedAction {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of KVMRC_VARS) delete env[name];
  Object.assign(env, { ONEVMM_KVMRC: info.kvmrcPath }, options.env);
  const started = performance.now();
  const child = spawn(process.execPath, [path.join(ROOT, 'remotes/vmm/kvm', action), ...args], {
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let exited = false;
  let killed = false;
  const guard = setTimeout(() => {
    killed = true;
    child.kill('SIGKILL');
  }, options.guardMs ?? 90_000);
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
  child.stdin.on('error', () => undefined); // a process that exits before reading stdin
  child.stdin.end(options.input ?? '');
  const done = new Promise<ActionRun>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      exited = true;
      clearTimeout(guard);
      resolve({
        code,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
        ms: Math.round(performance.now() - started),
        killed,
      });
    });
  });
  return { done, running: () => !exited };
}

export function runAction(
  info: TestbedInfo,
  action: string,
  args: readonly string[],
  options: ActionOptions = {},
): Promise<ActionRun> {
  return startAction(info, action, args, options).done;
}

// The error line of a failed action: the last line on stderr (INFO:/WARNING: progress lines come before it).
export function errorLine(run: ActionRun): string {
  const lines = run.stderr.split('\n').filter((line) => line.trim() !== '');
  return lines[lines.length - 1] ?? '';
}

// stderr lines that are neither progress (INFO:/WARNING:/DEBUG:) nor the final error line.
export function strayStderrLines(run: ActionRun): string[] {
  const lines = run.stderr.split('\n').filter((line) => line.trim() !== '');
  return lines.slice(0, -1).filter((line) => !/^(INFO|WARNING|DEBUG): /.test(line));
}

// A one-line description of a run, for assertion messages.
export function describeRun(run: ActionRun): string {
  return `exit ${String(run.code)} after ${run.ms} ms${run.killed ? ' (killed by the guard)' : ''}; stdout=${JSON.stringify(run.stdout)} stderr=${JSON.stringify(run.stderr)}`;
}

export interface Guest {
  readonly vmId: number;
  readonly name: string;
  readonly host: TestbedHost;
  readonly deploymentFile: string;
}

// Where OpenNebula would put the deployment file of this VM.
export function deploymentFileOf(vmId: number): string {
  return `/var/lib/one/datastores/0/${vmId}/deployment.0`;
}

// examples/tiny.tmpl for VM `vmId`: serial log one-<vmId>.serial, this testbed's kernel and initrd,
// and with `noAcpi` the guest ignores the ACPI power button (tb_noacpid).
export function writeGuestTemplate(info: TestbedInfo, dir: string, vmId: number, noAcpi: boolean): string {
  let text = readFileSync(path.join(ROOT, 'examples/tiny.tmpl'), 'utf8');
  const replace = (from: RegExp, to: string): void => {
    if (!from.test(text)) throw new Error(`examples/tiny.tmpl: no ${String(from)} to replace`);
    text = text.replace(from, to);
  };
  replace(/one-100\.serial/, `one-${vmId}.serial`);
  replace(/KERNEL\s*=\s*"[^"]*"/, `KERNEL = "${info.guest.kernel}"`);
  replace(/INITRD\s*=\s*"[^"]*"/, `INITRD = "${info.guest.initrd}"`);
  if (noAcpi) replace(/(KERNEL_CMD\s*=\s*"[^"]*)"/, '$1 tb_noacpid"');
  const file = path.join(dir, `tiny-${vmId}.tmpl`);
  writeFileSync(file, text);
  return file;
}

// `virsh domstate` straight on the host (not through onevmm); '' plus the error when it fails.
export function domainState(host: TestbedHost, name: string): { state: string; error: string } {
  const run = hostRun(host, ['timeout', '20', 'virsh', '-c', 'qemu:///system', 'domstate', name]);
  return run.status === 0
    ? { state: run.stdout.trim(), error: '' }
    : { state: '', error: run.stderr.trim() || `exit ${String(run.status)}` };
}

// Destroys a leftover domain straight on the host and forgets its serial log and deployment file.
export function wipeGuest(host: TestbedHost, vmId: number): void {
  hostRun(host, ['timeout', '20', 'virsh', '-c', 'qemu:///system', 'destroy', `one-${vmId}`]);
  hostRun(host, ['rm', '-f', '--', `/var/log/libvirt/qemu/one-${vmId}.serial`, deploymentFileOf(vmId)]);
}

// Deploys the tiny guest with the deploy executable (--template) and waits until it has booted.
export async function deployGuest(
  info: TestbedInfo,
  host: TestbedHost,
  dir: string,
  vmId: number,
  options: { noAcpi?: boolean } = {},
): Promise<Guest> {
  wipeGuest(host, vmId);
  const template = writeGuestTemplate(info, dir, vmId, options.noAcpi ?? false);
  const deploymentFile = deploymentFileOf(vmId);
  const run = await runAction(info, 'deploy', [
    '--template',
    template,
    deploymentFile,
    host.address,
    String(vmId),
    host.address,
  ]);
  if (run.code !== 0 || !/^[0-9a-f-]{36}\n$/.test(run.stdout))
    throw new Error(`deploy of one-${vmId} on ${host.address} failed: ${describeRun(run)}`);
  const name = `one-${vmId}`;
  await waitForSerial(host, name, /TB-GUEST-UP/, 60_000);
  return { vmId, name, host, deploymentFile };
}

// Cancels the guest with the cancel executable; falls back to `virsh destroy` on the host.
export async function removeGuest(info: TestbedInfo, guest: Guest): Promise<ActionRun> {
  const run = await runAction(info, 'cancel', [guest.name, String(guest.vmId), guest.host.address], {
    guardMs: 60_000,
  });
  if (run.code !== 0) wipeGuest(guest.host, guest.vmId);
  return run;
}

// How many heartbeats (`TB-HB <n>` every 2 s) the guest has printed on its serial console so far.
export function heartbeats(host: TestbedHost, name: string): number {
  return readSerialLog(host, name).match(/^TB-HB /gm)?.length ?? 0;
}

// Resolves once the guest prints a heartbeat it had not printed when called: it is alive now.
export async function waitForNewHeartbeat(
  host: TestbedHost,
  name: string,
  timeoutMs = 30_000,
): Promise<void> {
  const seen = heartbeats(host, name);
  const deadline = Date.now() + timeoutMs;
  while (heartbeats(host, name) <= seen) {
    if (Date.now() > deadline)
      throw new Error(`${host.name}/${name}: no new TB-HB heartbeat in ${timeoutMs} ms (had ${seen})`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
