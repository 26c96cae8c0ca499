// The e2e testbed (testbed/testbed.sh): fake hypervisor hosts in network + mount + UTS namespaces,
// each with its own sshd and libvirtd. Needs root. See testbed/README.md.
import { execFile, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export interface TestbedHost {
  index: number;
  name: string; // resolves only inside the hosts; from the test process use `address`
  address: string;
}

export interface TestbedInfo {
  dir: string;
  hosts: TestbedHost[];
  kvmrcPath: string; // SSH_* and LIBVIRT_URI lines; pass as ONEVMM_KVMRC
  identity: string;
  knownHosts: string; // every host under its name and its address
  sshConfig: string; // for OpenSSH: ssh -F <sshConfig> tb-h1
  guest: { kernel: string; initrd: string };
}

export interface HostRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

const SCRIPT = fileURLToPath(new URL('../../../testbed/testbed.sh', import.meta.url));
const UP_TIMEOUT_MS = 300_000;

// The state directory: TB_DIR as testbed.sh reads it.
export function testbedDir(): string {
  return (process.env.TB_DIR ?? '/tmp/onevmm-tb').replace(/\/+$/, '');
}

// Brings up (or repairs) a testbed of at least n hosts and describes it. Can take a minute on a
// fresh machine (Debian packages, guest kernel): give the calling hook a long timeout.
export async function ensureTestbed(n = 2): Promise<TestbedInfo> {
  const status = runScript(['status']);
  const current = status.status === 0 ? tryReadInfo() : undefined;
  if (current && current.hosts.length >= n) return current;
  try {
    await promisify(execFile)('bash', [SCRIPT, 'up', String(n)], {
      timeout: UP_TIMEOUT_MS,
      maxBuffer: 16 << 20,
    });
  } catch (error) {
    const e = error as Error & { stdout?: string; stderr?: string };
    throw new Error(`testbed up ${n} failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`, {
      cause: error,
    });
  }
  const info = tryReadInfo();
  if (!info) throw new Error(`testbed up ${n} wrote no ${path.join(testbedDir(), 'testbed.json')}`);
  return info;
}

// Reads $TB_DIR/testbed.json (written by `up` and `status`); undefined when there is none.
export function tryReadInfo(): TestbedInfo | undefined {
  let raw: TestbedInfo;
  try {
    raw = JSON.parse(readFileSync(path.join(testbedDir(), 'testbed.json'), 'utf8')) as TestbedInfo;
  } catch {
    return undefined;
  }
  return {
    dir: raw.dir,
    hosts: raw.hosts.map(({ index, name, address }) => ({ index, name, address })),
    kvmrcPath: raw.kvmrcPath,
    identity: raw.identity,
    knownHosts: raw.knownHosts,
    sshConfig: raw.sshConfig,
    guest: { kernel: raw.guest.kernel, initrd: raw.guest.initrd },
  };
}

// Runs cmd inside the host's namespaces (a string goes to `sh -c`); never throws.
export function hostRun(
  host: TestbedHost | string,
  cmd: string | readonly string[],
  input?: string,
): HostRun {
  const name = hostName(host);
  const dir = testbedDir();
  const argv = typeof cmd === 'string' ? ['sh', '-c', cmd] : [...cmd];
  const result = spawnSync(
    'nsenter',
    [
      `--net=/run/netns/${name}`,
      `--mount=${dir}/ns/${name}.mnt`,
      `--uts=${dir}/ns/${name}.uts`,
      '--',
      ...argv,
    ],
    { encoding: 'utf8', input, maxBuffer: 64 << 20 },
  );
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

// Runs cmd inside the host's namespaces and returns its stdout; throws when it fails.
export function hostExec(
  host: TestbedHost | string,
  cmd: string | readonly string[],
  input?: string,
): string {
  const result = hostRun(host, cmd, input);
  if (result.status !== 0) {
    const shown = typeof cmd === 'string' ? cmd : cmd.join(' ');
    throw new Error(`${hostName(host)}: '${shown}' exited ${result.status}: ${result.stderr.trim()}`);
  }
  return result.stdout;
}

// Where a domain's serial console goes on a host: the testbed convention is
// <serial type='file'><source path='/var/log/libvirt/qemu/NAME.serial' append='on'/></serial>
// (testbed/make-domain.sh), i.e. this file from the test process. Per host: after a migration
// the destination's file carries on.
export function serialLogPath(host: TestbedHost | string, domain: string): string {
  return path.join(testbedDir(), hostName(host), 'log', 'qemu', `${domain}.serial`);
}

// The guest's serial output so far ('' when there is none yet).
export function readSerialLog(host: TestbedHost | string, domain: string): string {
  try {
    return readFileSync(serialLogPath(host, domain), 'utf8');
  } catch {
    return '';
  }
}

// Reads `read()` every `pollMs` until it matches `pattern`; resolves with that text, rejects after
// timeoutMs with `what` and the last text read.
export async function waitForText(
  read: () => string,
  pattern: RegExp,
  what: string,
  timeoutMs: number,
  pollMs = 50,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = read();
    if (pattern.test(text)) return text;
    if (Date.now() > deadline)
      throw new Error(`${what}: no ${String(pattern)} in ${timeoutMs} ms; got:\n${text.slice(-2000)}`);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

// Resolves with the serial log once it matches pattern (e.g. /TB-GUEST-UP/); rejects after timeoutMs.
export function waitForSerial(
  host: TestbedHost | string,
  domain: string,
  pattern: RegExp,
  timeoutMs = 30_000,
): Promise<string> {
  return waitForText(
    () => readSerialLog(host, domain),
    pattern,
    `${hostName(host)}/${domain} serial console`,
    timeoutMs,
  );
}

// Cuts the host's link to the bridge (its veth end goes down): packets are dropped, not refused.
export function setLinkDown(host: TestbedHost | string): void {
  fault('link-down', host);
}

export function setLinkUp(host: TestbedHost | string): void {
  fault('link-up', host);
}

// Stops the host's libvirtd (SIGTERM); its guests keep running and are found again on start.
export function stopLibvirtd(host: TestbedHost | string): void {
  fault('libvirtd-stop', host);
}

// Starts the host's libvirtd and waits until it answers.
export function startLibvirtd(host: TestbedHost | string): void {
  fault('libvirtd-start', host);
}

// Kills every sshd of the host with SIGKILL: the listener and all sessions, so open connections drop.
export function killSshd(host: TestbedHost | string): void {
  fault('sshd-kill', host);
}

export function startSshd(host: TestbedHost | string): void {
  fault('sshd-start', host);
}

function fault(command: string, host: TestbedHost | string): void {
  const result = runScript([command, hostName(host)]);
  if (result.status !== 0)
    throw new Error(`testbed ${command} ${hostName(host)} failed: ${result.stderr.trim()}`);
}

function runScript(args: readonly string[]): HostRun {
  const result = spawnSync('bash', [SCRIPT, ...args], { encoding: 'utf8', timeout: UP_TIMEOUT_MS });
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function hostName(host: TestbedHost | string): string {
  return typeof host === 'string' ? host : host.name;
}
