// A real oned (OpenNebula master 7.5.80, the shared/oned kit) drives bin/one_vmm_exec through whole
// VM lives, over its XML-RPC API, on a testbed of its own (testbed/oned-kit.sh): the TM, VNM and
// VMM steps of each action, the context CD, a bridge that does not exist before the VM, live
// migration with the shared and the ssh TM. Then the same lives with OpenNebula's own driver:
// the same states and the same host contents (the differential). Failing steps leave nothing.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  clearHost,
  hostContents,
  KIT_TB,
  kitMissing,
  kitUp,
  ONE_LOCATION,
  type Kit,
} from '../helpers/oned-kit.js';
import {
  ensureTemplate,
  heartbeat,
  kitHostRun,
  Life,
  removeBridges,
  serialLog,
  waitSerial,
  type StepRecord,
} from './life.js';
import { backupIds, opsLife, vmLog, waitExec, type OpsLife } from './ops-life.js';

const missing = kitMissing();
// Ends every VM the kit's oned still has (a run that stopped half-way), so that the hosts start empty.
async function terminateAll(kit: Kit): Promise<void> {
  const pool = String(await kit.rpc.call('one.vmpool.info', -2, -1, -1, -1));
  const ids = [...pool.matchAll(/<VM><ID>(\d+)<\/ID>/g)].map((m) => Number(m[1]));
  for (const id of ids) {
    await kit.rpc
      .call('one.vm.action', 'terminate-hard', id)
      .catch(() => kit.rpc.call('one.vm.recover', id, 3));
  }
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const left = String(await kit.rpc.call('one.vmpool.info', -2, -1, -1, -1));
    if (!/<VM><ID>/.test(left)) return;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(
    `VMs left in the kit's oned: ${String(await kit.rpc.call('one.vmpool.info', -2, -1, -1, -1)).slice(0, 500)}`,
  );
}

// Each test starts with no VM in oned and nothing on the hosts, whatever the test before it left
// (one failure used to fail every test after it, each on the VM the first had left running). What
// oned's terminate does not remove (a domain oned took for powered off) is destroyed here, and named.
async function startEmpty(kit: Kit): Promise<void> {
  await terminateAll(kit);
  const left = (): { domains: readonly string[]; files: readonly string[] }[] =>
    kit.hosts.map((host) => {
      const { domains, files } = hostContents(host, kit.ids.sshDatastore);
      return { domains, files };
    });
  const empty = kit.hosts.map(() => ({ domains: [], files: [] }));
  await expect
    .poll(left, { timeout: 30_000 })
    .toEqual(empty)
    .catch(() => {
      console.log(`removing what an earlier test left on the kit hosts: ${JSON.stringify(left())}`);
      for (const host of kit.hosts) clearHost(host, kit.ids.sshDatastore);
    });
  expect(left(), 'the kit hosts after removing what an earlier test left').toEqual(empty);
  removeBridges(kit);
}

// The life with the shared TM: every action oned sends for a running VM, with what the guest sees.
async function sharedLife(kit: Kit, template: number): Promise<StepRecord[]> {
  const [h1, h2] = kit.hosts as [Kit['hosts'][0], Kit['hosts'][0]];
  removeBridges(kit);
  const life = new Life(kit, 0);
  await life.create(template);
  let at = serialLog(h1).length;
  await life.deploy(h1);
  expect(life.records.at(-1)?.hosts[0]?.bridges).toContain('br0');
  await waitSerial(h1, at, /TB-GUEST-UP/);
  const context = await waitSerial(h1, at, /TB-CONTEXT sr0 .*/);
  expect(context).toMatch(
    /ETH0_IP=192\.168\.79\.\d+ ETH0_MAC=02:00:c0:a8:4f:[0-9a-f]{2} SSH_PUBLIC_KEY=yes$/,
  );

  await life.action('poweroff', 'POWEROFF');
  expect(life.records.at(-1)?.hosts[0]).toMatchObject({ domains: [], bridges: [] });
  at = serialLog(h1).length;
  await life.action('resume', 'RUNNING');
  await waitSerial(h1, at, /TB-GUEST-UP/);
  const beforeMigration = await heartbeat(h1, at);

  const onH2 = serialLog(h2).length;
  await life.migrate(h2);
  // the same guest beats on: no boot on the destination
  await heartbeat(h2, onH2, (beat) => Number(beat['n']) > Number(beforeMigration['n']));
  expect(serialLog(h2).slice(onH2)).not.toMatch(/TB-GUEST-UP/);
  expect(life.records.at(-1)?.hosts[0]?.domains).toEqual([]);

  at = serialLog(h2).length;
  const disks = (await heartbeat(h2, at))['blk'] ?? '';
  await life.step(
    'attach disk',
    () => life.rpc('one.vm.attach', `DISK=[IMAGE_ID="${kit.ids.dataImage}"]`),
    'RUNNING',
  );
  const withDisk = await heartbeat(
    h2,
    at,
    (beat) => (beat['blk'] ?? '').split(',').length > disks.split(',').length,
  );
  const added = (await life.view()).disks.find((disk) => disk['IMAGE_ID'] === String(kit.ids.dataImage));
  expect(added?.['DISK_ID']).toBeDefined();
  at = serialLog(h2).length;
  await life.step('detach disk', () => life.rpc('one.vm.detach', Number(added?.['DISK_ID'])), 'RUNNING');
  await heartbeat(
    h2,
    at,
    (beat) => (beat['blk'] ?? '').split(',').length < (withDisk['blk'] ?? '').split(',').length,
  );

  at = serialLog(h2).length;
  await life.step(
    'attach nic',
    () => life.rpc('one.vm.attachnic', `NIC=[NETWORK_ID="${kit.ids.vnet}"]`),
    'RUNNING',
  );
  await heartbeat(h2, at, (beat) => (beat['net'] ?? '').includes('eth1'));
  // the context CD was rebuilt and changed under the running guest
  await waitSerial(
    h2,
    at,
    /TB-CONTEXT sr0 ETH0_IP=\S+ ETH0_MAC=\S+ ETH1_IP=192\.168\.79\.\d+ ETH1_MAC=\S+ SSH_PUBLIC_KEY=yes/,
  );
  const nic = (await life.view()).nics.at(-1)?.['NIC_ID'];
  at = serialLog(h2).length;
  await life.step('detach nic', () => life.rpc('one.vm.detachnic', Number(nic)), 'RUNNING');
  await heartbeat(h2, at, (beat) => !(beat['net'] ?? '').includes('eth1'));
  await waitSerial(h2, at, /TB-CONTEXT sr0 ETH0_IP=\S+ ETH0_MAC=\S+ SSH_PUBLIC_KEY=yes/);

  at = serialLog(h2).length;
  const beforeSave = await heartbeat(h2, at);
  await life.action('suspend', 'SUSPENDED');
  expect(life.records.at(-1)?.hosts[1]?.domains).toEqual([]);
  await life.action('resume', 'RUNNING');
  await heartbeat(h2, at, (beat) => Number(beat['n']) > Number(beforeSave['n']));
  expect(serialLog(h2).slice(at)).not.toMatch(/TB-GUEST-UP/);

  await life.step('snapshot create', () => life.rpc('one.vm.snapshotcreate', 'e2e'), 'RUNNING');
  expect((await life.view()).snapshots).toHaveLength(1);
  await life.step('snapshot revert', () => life.rpc('one.vm.snapshotrevert', 0), 'RUNNING');
  await life.step('snapshot delete', () => life.rpc('one.vm.snapshotdelete', 0), 'RUNNING');
  expect((await life.view()).snapshots).toHaveLength(0);

  at = serialLog(h2).length;
  await life.step('resize', () => life.rpc('one.vm.resize', 'VCPU="2"\nMEMORY="160"', false), 'RUNNING');
  await heartbeat(h2, at, (beat) => beat['cpus'] === '0-1');

  await life.action('terminate', 'DONE');
  // nothing is left: no domain, no file of the VM, no bridge (the network driver removed it)
  for (const host of life.records.at(-1)?.hosts ?? [])
    expect(host).toEqual({ domains: [], bridges: [], files: [] });
  return life.records;
}

// The life with the ssh TM (the system datastore is a folder private to each host): the TM copies
// the disk in and out, the migration carries the disks and the context CD to the destination.
async function sshLife(kit: Kit, template: number): Promise<StepRecord[]> {
  const [h1, h2] = kit.hosts as [Kit['hosts'][0], Kit['hosts'][0]];
  const life = new Life(kit, kit.ids.sshDatastore);
  await life.create(template);
  let at = serialLog(h1).length;
  await life.deploy(h1);
  await waitSerial(h1, at, /TB-CONTEXT sr0 ETH0_IP=\S+ ETH0_MAC=\S+ SSH_PUBLIC_KEY=yes/);
  const beat = await heartbeat(h1, at);
  at = serialLog(h2).length;
  await life.migrate(h2);
  await heartbeat(h2, at, (b) => Number(b['n']) > Number(beat['n']));
  const [onH1, onH2] = life.records.at(-1)?.hosts ?? [];
  // the VM's folder moved: the TM's postmigrate removed it from the source
  expect(onH1?.files.filter((file) => file.startsWith(`ds${kit.ids.sshDatastore}:`))).toEqual([]);
  expect(onH2?.files).toEqual(expect.arrayContaining([`ds${kit.ids.sshDatastore}:f <vm>/disk.1`]));
  await life.action('terminate', 'DONE');
  for (const host of life.records.at(-1)?.hosts ?? [])
    expect(host).toEqual({ domains: [], bridges: [], files: [] });
  return life.records;
}

const isMounted = (host: Kit['hosts'][0], dir: string): boolean =>
  kitHostRun(host, ['mountpoint', '-q', dir]).status === 0;

const ONEVMM = path.resolve(import.meta.dirname, '../../../bin/onevmm');

// What only onevmm does in the ops life: a command with quotes and `;` reaches the guest as
// typed (OpenNebula's driver splits it twice: "Syntax error"), the operator's `onevmm exec
// --wait` returns the guest's output and exit code, and a backup to a full datastore fails
// with what failed while the VM runs on and the earlier backup stays.
async function onevmmOps(kit: Kit, ops: OpsLife): Promise<void> {
  const [h1] = kit.hosts as [Kit['hosts'][0]];
  await ops.step(
    'exec with quotes',
    () => ops.rpc('one.vm.exec', `sh -c 'echo "a  b"; exit 3'`, ''),
    'RUNNING',
    'EXEC SUCCESS',
  );
  expect(await waitExec(kit, ops.vmid, (r) => r.status !== 'EXECUTING')).toEqual({
    status: 'DONE',
    returnCode: '3',
    stdout: 'a  b\n',
    stderr: '',
  });

  const cli = spawnSync(
    ONEVMM,
    [
      `--kvmrc=${ONE_LOCATION}/etc/onevmm-kvmrc`,
      'exec',
      h1.address,
      String(ops.vmid),
      `sh -c 'echo out; echo err >&2; exit 4'`,
      '--wait',
    ],
    { encoding: 'utf8', timeout: 60_000 },
  );
  expect({ status: cli.status, stdout: cli.stdout, stderr: cli.stderr }).toEqual({
    status: 4,
    stdout: 'out\n',
    stderr: 'err\n',
  });

  // the request oned sent for UPDATENIC, replayed by hand: the same steps, the same reply
  const drvlog = `${ONE_LOCATION}/var/drvlog/vmm`;
  const recorded = readdirSync(drvlog)
    .filter((name) => name.endsWith(`-UPDATENIC-${ops.vmid}.xml`))
    .map((name) => `${drvlog}/${name}`)
    .sort((a, b) => statSync(a).mtimeMs - statSync(b).mtimeMs)
    .at(-1);
  expect(recorded, 'the kit recorded the UPDATENIC payload').toBeDefined();
  const replay = spawnSync(
    ONEVMM,
    [`--kvmrc=${ONE_LOCATION}/etc/onevmm-kvmrc`, 'request', 'UPDATENIC', String(ops.vmid), recorded ?? ''],
    { encoding: 'utf8', timeout: 60_000, env: { ...process.env, ONE_LOCATION } },
  );
  expect({ status: replay.status, stdout: replay.stdout }).toEqual({
    status: 0,
    stdout: `UPDATENIC SUCCESS ${ops.vmid} ${kit.ids.vnet} bridge: -\n`,
  });

  const backupHost = kit.hosts.at(-1) as Kit['hosts'][0];
  const datastore = `${ONE_LOCATION}/var/datastores/${kit.ids.backupDatastore}`;
  const mount = kitHostRun(backupHost, ['mount', '-t', 'tmpfs', '-o', 'size=16k', 'tmpfs', datastore]);
  expect(mount.status, `tmpfs over ${datastore} on ${backupHost.name}`).toBe(0);
  try {
    await ops.step(
      'backup to a full datastore',
      () => ops.rpc('one.vm.backup', kit.ids.backupDatastore, false),
      'RUNNING',
      'BACKUP FAILURE',
    );
  } finally {
    // rsync's receiver may hold the tmpfs a moment longer
    await expect
      .poll(
        () => kitHostRun(backupHost, ['umount', datastore]).status === 0 || !isMounted(backupHost, datastore),
        {
          timeout: 20_000,
          interval: 500,
        },
      )
      .toBe(true);
  }
  // rsync's own message ("No space left on device") reaches OpenNebula's DS driver only now and
  // then (ssh ends first: exit 255); the trace's last command always does
  expect(vmLog(ops.vmid)).toMatch(
    /BACKUP: backup \(rsync\/backup\) failed on the front-end \(exit code \d+\): Error copying backup; (rsync: .*No space left on device|last command: rsync )/,
  );
  expect(await backupIds(kit, ops.vmid)).toHaveLength(1);

  // a backup host that is gone (an address of the kit's subnet that nobody has)
  const rsyncHost = (host: string) => () =>
    kit.rpc.call('one.datastore.update', kit.ids.backupDatastore, `RSYNC_HOST="${host}"`, 1);
  await rsyncHost(`${KIT_TB.net}.99`)();
  try {
    await ops.step(
      'backup to a datastore whose host is gone',
      () => ops.rpc('one.vm.backup', kit.ids.backupDatastore, false),
      'RUNNING',
      'BACKUP FAILURE',
    );
  } finally {
    await rsyncHost(backupHost.address)();
  }
  expect(vmLog(ops.vmid)).toMatch(
    /BACKUP: backup \(rsync\/backup\) failed on the front-end \(exit code \d+\): Error making rsync dst path.*(No route to host|timed out)/,
  );
  expect(await backupIds(kit, ops.vmid)).toHaveLength(1);
}

describe.skipIf(missing !== undefined)('a real oned drives onevmm', () => {
  let kit: Kit;
  let template: number;
  const lives: Record<string, StepRecord[]> = {};

  beforeAll(async () => {
    kit = await kitUp('onevmm');
    await terminateAll(kit);
    template = await ensureTemplate(kit);
  }, 600_000);

  beforeEach(() => startEmpty(kit), 120_000);

  it('through a whole VM life with the shared TM', async () => {
    lives['shared'] = await sharedLife(kit, template);
  }, 600_000);

  it('through a live migration with the ssh TM (disks and context copied)', async () => {
    lives['ssh'] = await sshLife(kit, template);
  }, 300_000);

  it('through new context, NIC alias, security group and NIC updates, disk snapshot, backups and guest commands', async () => {
    lives['ops'] = await opsLife(kit, template, (ops) => onevmmOps(kit, ops));
  }, 600_000);

  describe('a step that fails', () => {
    const remotes = `${ONE_LOCATION}/var/remotes`;
    const swap = (file: string, script: string): (() => void) => {
      renameSync(file, `${file}.e2e-orig`);
      writeFileSync(file, script);
      chmodSync(file, 0o755);
      return () => {
        rmSync(file, { force: true });
        renameSync(`${file}.e2e-orig`, file);
      };
    };

    it('TM premigrate exits 1: FAILURE with its message, failmigrate runs, the VM stays where it was', async () => {
      const [h1, h2] = kit.hosts as [Kit['hosts'][0], Kit['hosts'][0]];
      const marker = `${ONE_LOCATION}/var/kit/failmigrate.ran`;
      rmSync(marker, { force: true });
      const life = new Life(kit, 0);
      await life.create(template);
      const at = serialLog(h1).length;
      await life.deploy(h1);
      await waitSerial(h1, at, /TB-GUEST-UP/);
      const restore = [
        swap(
          `${remotes}/tm/shared/premigrate`,
          '#!/bin/sh\necho "premigrate refused by the onevmm e2e test" >&2\nexit 1\n',
        ),
        swap(
          `${remotes}/tm/shared/failmigrate`,
          `#!/bin/sh\necho "$@" > ${marker}\nexec "$0.e2e-orig" "$@"\n`,
        ),
      ];
      try {
        const view = await life.step(
          `migrate to ${h2.name}, refused`,
          () => life.rpc('one.vm.migrate', h2.id, true, false, 0, 0),
          'RUNNING',
        );
        expect(view.host).toBe(h1.address);
      } finally {
        for (const undo of restore) undo();
      }
      const log = vmLog(life.vmid);
      expect(log).toContain('Failed to execute transfer manager driver operation: tm_premigrate.');
      expect(log).toMatch(
        /MIGRATE: tm_premigrate \(shared\/premigrate\) failed on the front-end \(exit code 1\): premigrate refused by the onevmm e2e test/,
      );
      expect(existsSync(marker)).toBe(true);
      expect(life.records.at(-1)?.hosts[1]?.domains).toEqual([]);
      await heartbeat(h1, serialLog(h1).length);
      await life.action('terminate', 'DONE');
    }, 300_000);

    it('VNM post exits 1 on the host: FAILURE with its message, the domain is cancelled and the bridge cleaned', async () => {
      const [h1] = kit.hosts as [Kit['hosts'][0]];
      removeBridges(kit);
      const life = new Life(kit, 0);
      await life.create(template);
      const post = `${ONE_LOCATION}/var/kit/hosts/1/vartmpone/vnm/bridge/post`;
      const restore = swap(post, '#!/bin/sh\necho "post refused by the onevmm e2e test" >&2\nexit 1\n');
      try {
        await life.step(
          `deploy on ${h1.name}, refused`,
          () => life.rpc('one.vm.deploy', h1.id, false, 0),
          'BOOT_FAILURE',
        );
      } finally {
        restore();
      }
      // the fail actions ran: the new domain is gone, and so is the bridge pre made for it
      expect(life.records.at(-1)?.hosts[0]).toMatchObject({ domains: [], bridges: [] });
      const log = vmLog(life.vmid);
      expect(log).toMatch(
        /DEPLOY: post \(bridge\) failed on 10\.77\.2\.11 \(exit code 1\): post refused by the onevmm e2e test/,
      );
      expect(log).toContain('Successfully execute virtualization driver operation: cancel.');
      expect(log).toContain('Failed to execute network driver operation: post.');
      await life.action('terminate-hard', 'DONE');
      // oned is DONE with the VM at once and cleans up after (CLEANUP: cancel, clean, TM delete)
      await expect
        .poll(() => kit.hosts.map((host) => hostContents(host, kit.ids.sshDatastore)), { timeout: 30_000 })
        .toEqual(kit.hosts.map(() => ({ domains: [], bridges: [], files: [] })));
    }, 300_000);
  });

  describe("the same lives with OpenNebula's own driver (the differential)", () => {
    afterAll(async () => {
      // leave oned with onevmm again
      await kitUp('onevmm');
    }, 600_000);

    it('reaches the same states with the same host contents (shared TM)', async () => {
      kit = await kitUp('opennebula');
      expect(await sharedLife(kit, template)).toEqual(lives['shared']);
    }, 900_000);

    it('reaches the same states with the same host contents (ssh TM)', async () => {
      expect(await sshLife(kit, template)).toEqual(lives['ssh']);
    }, 300_000);

    it('answers the other actions alike: the same states, replies, host contents and backups', async () => {
      kit = await kitUp('opennebula');
      expect(await opsLife(kit, template)).toEqual(lives['ops']);
    }, 600_000);

    it("and so does OpenNebula's driver running onevmm's executables as local actions (-l)", async () => {
      kit = await kitUp('opennebula-local');
      // With -l deploy OpenNebula's driver deploys LOCAL_DEPLOYMENT_FILE and writes vm.xml and
      // ds.xml beside it on the front-end ($ONE_LOCATION/var/vms/<id>), not in the VM's folder.
      const withoutDeploymentFiles = (records: StepRecord[] | undefined): StepRecord[] =>
        (records ?? []).map((record) => ({
          ...record,
          hosts: record.hosts.map((host) => ({
            ...host,
            files: host.files.filter((file) => !/\/(deployment\.\d+|vm\.xml|ds\.xml)$/.test(file)),
          })),
        }));
      expect(withoutDeploymentFiles(await sharedLife(kit, template))).toEqual(
        withoutDeploymentFiles(lives['shared']),
      );
    }, 900_000);
  });
});

if (missing !== undefined) console.log(`real-oned suite: not run: ${missing}`);
