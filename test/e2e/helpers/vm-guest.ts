// Helpers for the issue-5 e2e files (migration, hot-plug, snapshots): tiny guests made by
// testbed/make-domain.sh (optionally with a qcow2 disk), deployed through the deploy executable,
// and the states of a domain on the hosts.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describeRun, ROOT, runAction } from './guest.js';
import { hostRun, readSerialLog, type TestbedHost, type TestbedInfo } from './testbed.js';

const MAKE_DOMAIN = path.join(ROOT, 'testbed', 'make-domain.sh');

export interface TinyDomain {
  readonly name: string;
  // A qcow2 disk (vda) at this path on the host; created by deployTiny.
  readonly disk?: string;
  // Extra XML put into the domain's <devices> (e.g. a virtio-scsi controller).
  readonly extraDevices?: string;
  // The OpenNebula metadata's system_datastore (where snapshots are kept).
  readonly vmDir?: string;
  // Any other change to the XML make-domain.sh prints.
  readonly tweak?: (xml: string) => string;
}

// The domain XML of a tiny guest with a 1 s heartbeat.
export function tinyDomainXml(tb: TestbedInfo, domain: TinyDomain): string {
  const args = [MAKE_DOMAIN, domain.name, 'kvm', ...(domain.disk ? ['--disk', domain.disk] : []), 'tb_hb=1'];
  const made = spawnSync('bash', args, {
    encoding: 'utf8',
    env: { ...process.env, TB_DIR: tb.dir, TB_GUEST_DIR: path.dirname(tb.guest.kernel) },
  });
  if (made.status !== 0) throw new Error(`make-domain.sh failed: ${made.stderr}`);
  let xml = made.stdout;
  if (domain.extraDevices !== undefined)
    xml = xml.replace('</devices>', `${domain.extraDevices}\n  </devices>`);
  if (domain.vmDir !== undefined) {
    xml = xml.replace(
      '</domain>',
      `  <metadata><one:vm xmlns:one="http://opennebula.org/xmlns/libvirt/1.0"><one:system_datastore>${domain.vmDir}</one:system_datastore></one:vm></metadata>\n</domain>`,
    );
  }
  return domain.tweak === undefined ? xml : domain.tweak(xml);
}

// Creates the disk (if any) on the host and deploys the domain with the deploy executable.
export async function deployTiny(
  tb: TestbedInfo,
  host: TestbedHost,
  domain: TinyDomain,
  workDir: string,
): Promise<void> {
  if (domain.disk !== undefined) {
    const made = hostRun(host, [
      'sh',
      '-c',
      'mkdir -p "$(dirname "$1")" && rm -f "$1" && qemu-img create -q -f qcow2 "$1" 64M',
      'sh',
      domain.disk,
    ]);
    if (made.status !== 0) throw new Error(`${host.name}: qemu-img create ${domain.disk}: ${made.stderr}`);
  }
  hostRun(host, ['rm', '-f', '--', `/var/log/libvirt/qemu/${domain.name}.serial`]);
  const run = await runAction(
    tb,
    'deploy',
    [path.join(workDir, domain.name, 'deployment.0'), host.address, '0', host.address],
    { stdin: tinyDomainXml(tb, domain) },
  );
  if (run.code !== 0) throw new Error(`deploy of ${domain.name} on ${host.name} failed; ${describeRun(run)}`);
}

// The domain's state on a host as virsh prints it ('absent' when libvirt does not know it).
export function domainState(host: TestbedHost, domain: string): string {
  const result = hostRun(host, ['virsh', '--connect', 'qemu:///system', 'domstate', domain]);
  return result.status === 0 ? result.stdout.trim() : 'absent';
}

// Destroys (and undefines) the domain on every host, directly with virsh.
export function removeEverywhere(tb: TestbedInfo, domain: string): void {
  for (const host of tb.hosts) {
    hostRun(host, ['virsh', '--connect', 'qemu:///system', 'destroy', domain]);
    hostRun(host, ['virsh', '--connect', 'qemu:///system', 'undefine', '--snapshots-metadata', domain]);
  }
}

// The last heartbeat number in the host's serial log of the domain (-1 when none).
export function lastHeartbeat(host: TestbedHost, domain: string): number {
  const numbers = [...readSerialLog(host, domain).matchAll(/^TB-HB (\d+) /gm)].map((m) => Number(m[1]));
  return numbers.at(-1) ?? -1;
}

// The last heartbeat line (with its blk= and net= lists), '' when none.
export function lastHeartbeatLine(host: TestbedHost, domain: string): string {
  return [...readSerialLog(host, domain).matchAll(/^TB-HB .*$/gm)].map((m) => m[0]).at(-1) ?? '';
}

// Polls until check() is true; throws with `what` after timeoutMs.
export async function eventually(what: string, check: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
