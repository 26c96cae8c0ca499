// The life of a running VM through the actions oned sends besides deploy/migrate/hot-plug: a new
// context (UPDATECONF), a NIC alias attached and detached, a security group and a network
// updated (UPDATESG, UPDATENIC), a live disk snapshot, a backup to the rsync datastore, a backup
// cancelled, commands in the guest through its agent (EXEC, EXEC_CANCEL) and an agent that is
// gone. Whichever VM_MAD oned runs: each step's end state, the driver's reply (ACTION RESULT,
// from the kit's wire log), what the hosts and the backup datastore hold, and what the guest
// reports are recorded, so that two drivers can be compared.
import { readdirSync, readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { ONE_LOCATION, type Kit } from '../helpers/oned-kit.js';
import { Life, removeBridges, serialLog, waitSerial, type StepRecord } from './life.js';

export interface OpsRecord extends StepRecord {
  // The driver's last reply for the VM: "UPDATESG SUCCESS" (the info differs between drivers).
  readonly reply: string;
  // Backups of the VM in the backup datastore (folders; their names are random).
  readonly backups: number;
}

// The result of a guest command as oned keeps it (QEMU_GA_EXEC), outputs decoded.
export interface ExecResult {
  readonly status: string;
  readonly returnCode?: string;
  readonly stdout?: string;
  readonly stderr?: string;
}

const PREBACKUP_DONE = 'Successfully execute transfer manager driver operation: prebackup_live.';

export function vmLog(vmid: number): string {
  try {
    return readFileSync(`${ONE_LOCATION}/var/vms/${vmid}/vm.log`, 'utf8');
  } catch {
    return '';
  }
}

const WIRE_LOG = `${ONE_LOCATION}/var/drvlog/vmm/wire.log`;

// The driver's replies for one VM, oldest first: "ACTION RESULT".
export function driverReplies(vmid: number): string[] {
  let text = '';
  try {
    text = readFileSync(WIRE_LOG, 'utf8');
  } catch {
    return [];
  }
  return [...text.matchAll(new RegExp(`^\\S+ < (\\S+) (SUCCESS|FAILURE) ${vmid}(?: |$)`, 'gm'))].map(
    (m) => `${m[1]} ${m[2]}`,
  );
}

const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');
const unb64 = (text: string | undefined): string | undefined =>
  text === undefined ? undefined : Buffer.from(text, 'base64').toString('utf8');

function field(xml: string, name: string): string | undefined {
  return new RegExp(`<${name}>(?:<!\\[CDATA\\[)?([^<]*?)(?:\\]\\]>)?</${name}>`).exec(xml)?.[1];
}

export async function execResult(kit: Kit, vmid: number): Promise<ExecResult> {
  const vm = String(await kit.rpc.call('one.vm.info', vmid, false));
  const exec = /<QEMU_GA_EXEC>(.*?)<\/QEMU_GA_EXEC>/s.exec(vm)?.[1] ?? '';
  const rc = field(exec, 'RETURN_CODE');
  const out = unb64(field(exec, 'STDOUT'));
  const err = unb64(field(exec, 'STDERR'));
  return {
    status: field(exec, 'STATUS') ?? '',
    ...(rc === undefined ? {} : { returnCode: rc }),
    ...(out === undefined ? {} : { stdout: out }),
    ...(err === undefined ? {} : { stderr: err }),
  };
}

// Waits until oned has the command's result (OpenNebula's monitor probe brings it, every 5 s).
export async function waitExec(
  kit: Kit,
  vmid: number,
  until: (result: ExecResult) => boolean,
  timeoutMs = 150_000,
): Promise<ExecResult> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = await execResult(kit, vmid);
    if (until(result)) return result;
    if (Date.now() > deadline) throw new Error(`VM ${vmid}: QEMU_GA_EXEC still ${JSON.stringify(result)}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

export async function backupIds(kit: Kit, vmid: number): Promise<string[]> {
  const vm = String(await kit.rpc.call('one.vm.info', vmid, false));
  const ids = /<BACKUP_IDS>(.*?)<\/BACKUP_IDS>/s.exec(vm)?.[1] ?? '';
  return [...ids.matchAll(/<ID>(\d+)<\/ID>/g)].map((m) => m[1] ?? '');
}

// The folder of the VM's backups in the rsync datastore (on the last host; /tmp is shared).
export function backupFolder(kit: Kit, vmid: number): string {
  return `${ONE_LOCATION}/var/datastores/${kit.ids.backupDatastore}/${vmid}`;
}

function countBackups(kit: Kit, vmid: number): number {
  try {
    return readdirSync(backupFolder(kit, vmid)).length;
  } catch {
    return 0;
  }
}

export class OpsLife {
  readonly life: Life;
  readonly records: OpsRecord[] = [];
  private readonly kit: Kit;

  constructor(kit: Kit) {
    this.kit = kit;
    this.life = new Life(kit, 0);
  }

  get vmid(): number {
    return this.life.vmid;
  }

  // Runs a request, waits for the driver's reply to it (the action named in `reply`: a reply to
  // another action, BACKUPCANCEL's beside BACKUP, does not count) and for oned to settle in
  // `want`; the reply must be `reply`.
  async step(name: string, act: () => Promise<unknown>, want: string, reply: string): Promise<void> {
    const before = driverReplies(this.vmid).length;
    const action = reply.split(' ')[0] ?? '';
    const answer = (): string | undefined =>
      driverReplies(this.vmid)
        .slice(before)
        .find((line) => line.startsWith(`${action} `));
    await this.life.step(name, act, want, () => answer() !== undefined, true);
    const record = this.life.records.at(-1);
    if (record === undefined) throw new Error('no record');
    expect(answer(), `${name}: the driver's reply`).toBe(reply);
    this.records.push({ ...record, reply, backups: countBackups(this.kit, this.vmid) });
  }

  // Runs `checks` and forgets what their steps recorded (checks of one driver only).
  async unrecorded(checks: () => Promise<void>): Promise<void> {
    const [ours, life] = [this.records.length, this.life.records.length];
    await checks();
    this.records.splice(ours);
    this.life.records.splice(life);
  }

  rpc(method: string, ...args: (string | number | boolean)[]): Promise<unknown> {
    return this.life.rpc(method, ...args);
  }
}

// The life; `extra` runs while the guest agent is still up (checks of one driver only, unrecorded).
export async function opsLife(
  kit: Kit,
  template: number,
  extra?: (ops: OpsLife) => Promise<void>,
): Promise<OpsRecord[]> {
  const [h1] = kit.hosts as [Kit['hosts'][0]];
  removeBridges(kit);
  const ops = new OpsLife(kit);
  const { life } = ops;
  await life.create(template, 'FEATURES=[GUEST_AGENT="yes"]');
  let at = serialLog(h1).length;
  await ops.step(
    `deploy on ${h1.name}`,
    () => life.rpc('one.vm.deploy', h1.id, false, 0),
    'RUNNING',
    'DEPLOY SUCCESS',
  );
  await waitSerial(h1, at, /TB-QGA up=/);
  await waitSerial(h1, at, /TB-CONTEXT sr0 ETH0_IP=\S+ ETH0_MAC=\S+ SSH_PUBLIC_KEY=yes/);

  // UPDATECONF: a new context CD under the running guest
  at = serialLog(h1).length;
  await ops.step(
    'update conf',
    () => ops.rpc('one.vm.updateconf', 'CONTEXT=[ONEVMM_E2E="updated"]', 1),
    'RUNNING',
    'UPDATECONF SUCCESS',
  );
  await waitSerial(h1, at, /TB-CONTEXT sr0 /);

  // a NIC alias: only its network steps and the context
  at = serialLog(h1).length;
  await ops.step(
    'attach nic alias',
    () => ops.rpc('one.vm.attachnic', `NIC_ALIAS=[NETWORK_ID="${kit.ids.vnet}", PARENT="NIC0"]`),
    'RUNNING',
    'ATTACHNIC SUCCESS',
  );
  await waitSerial(h1, at, /TB-CONTEXT sr0 ETH0_ALIAS0_IP=192\.168\.79\.\d+ /);
  const vm = String(await kit.rpc.call('one.vm.info', ops.vmid, false));
  const alias = field(/<NIC_ALIAS>(.*?)<\/NIC_ALIAS>/s.exec(vm)?.[1] ?? '', 'NIC_ID');
  at = serialLog(h1).length;
  await ops.step(
    'detach nic alias',
    () => ops.rpc('one.vm.detachnic', Number(alias)),
    'RUNNING',
    'DETACHNIC SUCCESS',
  );
  const context = await waitSerial(h1, at, /TB-CONTEXT sr0 .*/);
  expect(context).not.toContain('ALIAS');

  // UPDATESG: the default security group changed (a rule added, then the old rules back)
  const group = String(await kit.rpc.call('one.secgroup.info', 0, false));
  const rules = [...group.matchAll(/<RULE>(.*?)<\/RULE>/gs)].map((m) => {
    const pairs = [...(m[1] ?? '').matchAll(/<(\w+)><!\[CDATA\[(.*?)\]\]><\/\1>/g)];
    return `RULE=[${pairs.map((p) => `${p[1]}="${p[2]}"`).join(', ')}]`;
  });
  const updateSg = (text: string) => () => kit.rpc.call('one.secgroup.update', 0, text, 0);
  await ops.step(
    'security group: a rule added',
    updateSg([...rules, 'RULE=[PROTOCOL="ICMP", RULE_TYPE="inbound"]'].join('\n')),
    'RUNNING',
    'UPDATESG SUCCESS',
  );
  await ops.step('security group: rules back', updateSg(rules.join('\n')), 'RUNNING', 'UPDATESG SUCCESS');

  // UPDATENIC: the NIC's QoS changed
  await ops.step(
    'update nic',
    () => ops.rpc('one.vm.updatenic', 0, 'NIC=[INBOUND_AVG_BW="1000"]', 1),
    'RUNNING',
    'UPDATENIC SUCCESS',
  );

  // a live disk snapshot (kvm-shared is in LIVE_DISK_SNAPSHOTS)
  await ops.step(
    'disk snapshot',
    () => ops.rpc('one.vm.disksnapshotcreate', 0, 'e2e'),
    'RUNNING',
    'DISKSNAPSHOTCREATE SUCCESS',
  );

  // BACKUP to the rsync datastore, then one cancelled while it runs: nothing of it is kept
  await ops.step(
    'backup',
    () => ops.rpc('one.vm.backup', kit.ids.backupDatastore, false),
    'RUNNING',
    'BACKUP SUCCESS',
  );
  expect(await backupIds(kit, ops.vmid)).toHaveLength(1);
  // The cancel lands while rsync copies (slowed down for it): OpenNebula's scripts stop on TERM
  // from backup_cancel, except in the moment ruby starts, before their trap is set.
  const rsyncArgs = (args: string) => () =>
    kit.rpc.call('one.datastore.update', kit.ids.backupDatastore, `RSYNC_ARGS="${args}"`, 1);
  await rsyncArgs('-aS --bwlimit=100')();
  try {
    await ops.step(
      'backup cancelled',
      async () => {
        const copying = (): number => vmLog(ops.vmid).split(PREBACKUP_DONE).length;
        const before = copying();
        await ops.rpc('one.vm.backup', kit.ids.backupDatastore, false);
        await expect.poll(copying, { timeout: 60_000, interval: 100 }).toBeGreaterThan(before);
        await new Promise((resolve) => setTimeout(resolve, 1500));
        await ops.rpc('one.vm.backupcancel');
      },
      'RUNNING',
      'BACKUP FAILURE',
    );
  } finally {
    await rsyncArgs('-aS')();
  }
  expect(driverReplies(ops.vmid).slice(-3)).toContain('BACKUPCANCEL SUCCESS');
  expect(await backupIds(kit, ops.vmid)).toHaveLength(1);

  // EXEC: stdin, stdout, exit code; a failing command's stderr
  await ops.step(
    'exec cat',
    () => ops.rpc('one.vm.exec', 'cat', b64('hello from stdin\n')),
    'RUNNING',
    'EXEC SUCCESS',
  );
  expect(await waitExec(kit, ops.vmid, (r) => r.status !== 'EXECUTING')).toEqual({
    status: 'DONE',
    returnCode: '0',
    stdout: 'hello from stdin\n',
    stderr: '',
  });
  await ops.step(
    'exec ls',
    () => ops.rpc('one.vm.exec', 'ls /onevmm-e2e-none', ''),
    'RUNNING',
    'EXEC SUCCESS',
  );
  expect(await waitExec(kit, ops.vmid, (r) => r.status !== 'EXECUTING')).toMatchObject({
    status: 'DONE',
    returnCode: '1',
    stdout: '',
    stderr: expect.stringContaining('No such file or directory') as unknown,
  });

  // EXEC_CANCEL: the command is gone from the guest
  await ops.step('exec sleep', () => ops.rpc('one.vm.exec', 'sleep 299', ''), 'RUNNING', 'EXEC SUCCESS');
  expect((await execResult(kit, ops.vmid)).status).toBe('EXECUTING');
  await ops.step('exec cancel', () => ops.rpc('one.vm.cancelexec'), 'RUNNING', 'EXEC_CANCEL SUCCESS');
  expect((await execResult(kit, ops.vmid)).status).toBe('CANCELLED');
  await ops.step('exec ps', () => ops.rpc('one.vm.exec', 'ps', ''), 'RUNNING', 'EXEC SUCCESS');
  const ps = await waitExec(kit, ops.vmid, (r) => r.status !== 'EXECUTING');
  expect(ps.status).toBe('DONE');
  expect(ps.stdout).not.toContain('sleep 299');

  if (extra !== undefined) await ops.unrecorded(() => extra(ops));

  // the agent goes away (the guest kills it): EXEC_CANCEL and EXEC fail, the VM runs on
  await ops.step(
    'exec: agent killed',
    () => ops.rpc('one.vm.exec', 'sh', b64('sleep 1; killall qemu-ga\n')),
    'RUNNING',
    'EXEC SUCCESS',
  );
  await new Promise((resolve) => setTimeout(resolve, 3000));
  await ops.step(
    'exec cancel, agent down',
    () => ops.rpc('one.vm.cancelexec'),
    'RUNNING',
    'EXEC_CANCEL FAILURE',
  );
  expect((await execResult(kit, ops.vmid)).status).toBe('ERROR');
  await ops.step(
    'exec, agent down',
    () => ops.rpc('one.vm.exec', '/bin/true', ''),
    'RUNNING',
    'EXEC FAILURE',
  );
  expect((await execResult(kit, ops.vmid)).status).toBe('ERROR');

  await ops.step(
    'terminate',
    () => kit.rpc.call('one.vm.action', 'terminate', ops.vmid),
    'DONE',
    'SHUTDOWN SUCCESS',
  );
  for (const host of ops.records.at(-1)?.hosts ?? [])
    expect(host).toEqual({ domains: [], bridges: [], files: [] });
  return ops.records;
}
