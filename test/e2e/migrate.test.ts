// Live migration of real guests between two testbed hosts (issue 5 §1): h1 → h2 → h1 with the
// heartbeat continuing, a disk on a path both hosts see, a local disk copied with
// --copy-storage-all; and the faults: destination link cut mid-migration, MIGRATE_TIMEOUT,
// destination libvirtd stopped, destination host key unknown. Each time the VM must run on
// exactly one host and the FAILURE must say why. VM names one-800…one-819 belong to this file.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeRun, failureLine, jsonResult, runAction, runProgram, ROOT } from './helpers/guest.js';
import {
  ensureTestbed,
  hostRun,
  setLinkDown,
  setLinkUp,
  startLibvirtd,
  stopLibvirtd,
  type TestbedHost,
  type TestbedInfo,
} from './helpers/testbed.js';
import { deployTiny, domainState, eventually, lastHeartbeat, removeEverywhere } from './helpers/vm-guest.js';

const LIVE = 'one-800';
const SHARED = 'one-801';
const LOCAL = 'one-802';
const FAULTY = 'one-803';
const NAMES = [LIVE, SHARED, LOCAL, FAULTY];

let tb: TestbedInfo;
let h1: TestbedHost;
let h2: TestbedHost;
let work: string;

// `migrate <deploy_id> <dest> <src> <vmid> <host>` as oned calls it (host = the source).
function migrate(
  domain: string,
  from: TestbedHost,
  to: TestbedHost,
  env: Record<string, string> = {},
  extra: string[] = [],
) {
  return runAction(tb, 'migrate', [domain, to.address, from.address, '0', from.address, ...extra], {
    env,
    timeoutMs: 240_000,
  });
}

// The guest keeps beating on `host` after the migration (no reboot: the counter goes on).
async function heartbeatGoesOn(host: TestbedHost, domain: string, before: number): Promise<void> {
  await eventually(
    `${domain} beats on ${host.name} after #${before}`,
    () => lastHeartbeat(host, domain) > before + 1,
    60_000,
  );
}

function runsOnlyOn(host: TestbedHost, domain: string): void {
  for (const other of tb.hosts) {
    if (other.name === host.name)
      expect(domainState(other, domain), `${domain} on ${other.name}`).toBe('running');
    else expect(domainState(other, domain), `${domain} on ${other.name}`).toBe('absent');
  }
}

describe('live migration of a real guest', { timeout: 300_000 }, () => {
  beforeAll(async () => {
    tb = await ensureTestbed(2);
    [h1, h2] = tb.hosts as [TestbedHost, TestbedHost];
    work = mkdtempSync(path.join(tmpdir(), 'onevmm-e2e-migrate-'));
    for (const name of NAMES) removeEverywhere(tb, name);
    await deployTiny(tb, h1, { name: LIVE }, work);
    await eventually(`${LIVE} boots`, () => lastHeartbeat(h1, LIVE) >= 1, 90_000);
  });

  afterAll(() => {
    if (tb === undefined) return;
    for (const name of NAMES) removeEverywhere(tb, name);
    for (const host of tb.hosts) hostRun(host, ['sh', '-c', `rm -f ${tb.dir}/local/one-80*.qcow2`]);
    hostRun(h1, ['rm', '-f', `${tb.dir}/shared/${SHARED}.qcow2`]);
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  it('migrate h1 → h2 (run on the source): the guest goes on beating on h2 and is gone from h1', async () => {
    const before = lastHeartbeat(h1, LIVE);
    const run = await migrate(LIVE, h1, h2, {}, ['--json']);
    expect(run.code, describeRun(run)).toBe(0);
    expect(jsonResult(run)).toMatchObject({ action: 'migrate', ok: true, outcome: 'migrated' });
    runsOnlyOn(h2, LIVE);
    await heartbeatGoesOn(h2, LIVE, before);
    expect(readFileSync(path.join(tb.dir, h2.name, 'log', 'qemu', `${LIVE}.serial`), 'utf8')).not.toMatch(
      /TB-GUEST-UP/,
    );
  });

  it('migrate_local h2 → h1 (driven from this machine): back on h1, still beating', async () => {
    const before = lastHeartbeat(h2, LIVE);
    // virsh runs here and reaches the hosts with qemu+ssh through the testbed's ssh wrapper.
    const run = await runAction(tb, 'migrate_local', [LIVE, h1.address, h2.address, '0', h2.address], {
      env: { PATH: `${tb.dir}/bin:${process.env['PATH'] ?? ''}` },
    });
    expect(run.code, describeRun(run)).toBe(0);
    runsOnlyOn(h1, LIVE);
    await heartbeatGoesOn(h1, LIVE, before);
  });

  it('a disk on a path both hosts see migrates with the VM (MIGRATE_OPTIONS=--unsafe)', async () => {
    await deployTiny(tb, h1, { name: SHARED, disk: `${tb.dir}/shared/${SHARED}.qcow2` }, work);
    await eventually(`${SHARED} boots`, () => lastHeartbeat(h1, SHARED) >= 1, 90_000);
    const before = lastHeartbeat(h1, SHARED);
    const run = await migrate(SHARED, h1, h2, { MIGRATE_OPTIONS: '--unsafe' });
    expect(run.code, describeRun(run)).toBe(0);
    runsOnlyOn(h2, SHARED);
    await heartbeatGoesOn(h2, SHARED, before);
    expect(hostRun(h2, ['virsh', '-c', 'qemu:///system', 'domblklist', SHARED]).stdout).toContain(
      `${tb.dir}/shared/${SHARED}.qcow2`,
    );
  });

  it('a local disk is copied with --copy-storage-all into a file created on the destination', async () => {
    const disk = `${tb.dir}/local/${LOCAL}.qcow2`;
    await deployTiny(tb, h1, { name: LOCAL, disk }, work);
    await eventually(`${LOCAL} boots`, () => lastHeartbeat(h1, LOCAL) >= 1, 90_000);
    expect(hostRun(h2, ['test', '-e', disk]).status).not.toBe(0);
    const before = lastHeartbeat(h1, LOCAL);
    const run = await migrate(LOCAL, h1, h2, {}, ['--copy-storage']);
    expect(run.code, describeRun(run)).toBe(0);
    runsOnlyOn(h2, LOCAL);
    await heartbeatGoesOn(h2, LOCAL, before);
    expect(hostRun(h2, ['qemu-img', 'info', '-U', disk]).stdout).toMatch(/virtual size: 64 MiB/);
  });

  it('a copy whose file already exists on the destination is refused; the VM stays where it is', async () => {
    // h1 still holds the disk the VM left behind (the TM driver would remove it).
    const run = await migrate(LOCAL, h2, h1, {}, ['--copy-storage']);
    expect(run.code).toBe(1);
    expect(failureLine(run)).toMatch(/exists already/);
    expect(failureLine(run)).toMatch(/still runs on the source/);
    runsOnlyOn(h2, LOCAL);
  });

  it('bad requests change nothing: destination = source, a VM that is not on the source', async () => {
    const same = await migrate(LIVE, h1, h1);
    expect(same.code).toBe(1);
    expect(failureLine(same)).toMatch(
      /one-800 from 10\.77\.\d+\.\d+ to .*the destination is the source host/,
    );
    const missing = await migrate('one-819', h1, h2);
    expect(missing.code).toBe(1);
    expect(failureLine(missing)).toMatch(/one-819 .* is absent on 10\.77/);
    runsOnlyOn(h1, LIVE);
  });

  it('onevmm migrate --dry-run prints the plan and touches nothing', async () => {
    const run = await runProgram(tb, path.join(ROOT, 'bin', 'onevmm'), [
      'migrate',
      LIVE,
      '--from',
      h1.address,
      '--to',
      h2.address,
      '--dry-run',
    ]);
    expect(run.code, describeRun(run)).toBe(0);
    expect(run.stdout).toContain(`migrate --live -- ${LIVE} qemu+ssh://${h2.address}/system`);
    runsOnlyOn(h1, LIVE);
  });
});

describe(
  'migration faults: the VM keeps running on the source, nothing is left behind',
  { timeout: 300_000 },
  () => {
    // A migration that cannot converge: the tiny guest dirties more than 1 MiB/s.
    const SLOW = { MIGRATE_OPTIONS: '--bandwidth 1', SSH_CONNECT_TIMEOUT: '3' };
    let before: number;

    beforeAll(async () => {
      tb = await ensureTestbed(2);
      [h1, h2] = tb.hosts as [TestbedHost, TestbedHost];
      work ??= mkdtempSync(path.join(tmpdir(), 'onevmm-e2e-migrate-'));
      removeEverywhere(tb, FAULTY);
      await deployTiny(tb, h1, { name: FAULTY }, work);
      await eventually(`${FAULTY} boots`, () => lastHeartbeat(h1, FAULTY) >= 1, 90_000);
    });

    afterAll(() => {
      if (tb === undefined) return;
      setLinkUp(h2);
      startLibvirtd(h2);
      removeEverywhere(tb, FAULTY);
    });

    async function stillOnSource(): Promise<void> {
      expect(domainState(h1, FAULTY)).toBe('running');
      await heartbeatGoesOn(h1, FAULTY, before);
      await eventually(`no ${FAULTY} left on ${h2.name}`, () => domainState(h2, FAULTY) === 'absent', 90_000);
    }

    it('past MIGRATE_TIMEOUT the job is aborted (domjobabort)', async () => {
      before = lastHeartbeat(h1, FAULTY);
      const run = await migrate(FAULTY, h1, h2, { ...SLOW, MIGRATE_TIMEOUT: '4' });
      expect(run.code).toBe(1);
      expect(failureLine(run)).toMatch(/MIGRATE_TIMEOUT=4s reached, the job was aborted/);
      expect(failureLine(run)).toMatch(/still runs on the source/);
      expect(run.stderr).toMatch(/domjobabort/);
      await stillOnSource();
    });

    it('destination link cut mid-migration', async () => {
      before = lastHeartbeat(h1, FAULTY);
      const pending = migrate(FAULTY, h1, h2, { ...SLOW, MIGRATE_TIMEOUT: '12' });
      // Cut once the job runs on the source.
      await eventually('the migration job starts', () =>
        /Outgoing migration|Unbounded/.test(
          hostRun(h1, ['virsh', '-c', 'qemu:///system', 'domjobinfo', FAULTY]).stdout,
        ),
      );
      setLinkDown(h2);
      let run;
      try {
        run = await pending;
      } finally {
        setLinkUp(h2);
      }
      expect(run.code).toBe(1);
      expect(failureLine(run)).toMatch(/still runs on the source/);
      expect(failureLine(run)).toMatch(/10\.77\.\d+\.12/);
      await stillOnSource();
    });

    it('destination libvirtd stopped', async () => {
      before = lastHeartbeat(h1, FAULTY);
      stopLibvirtd(h2);
      let run;
      try {
        run = await migrate(FAULTY, h1, h2, SLOW);
      } finally {
        startLibvirtd(h2);
      }
      expect(run.code).toBe(1);
      expect(failureLine(run)).toMatch(new RegExp(`read domain state.*${h2.address.replace(/\./g, '\\.')}`));
      expect(failureLine(run)).toMatch(/libvirt|socket|connect/i);
      await stillOnSource();
    });

    it('destination host key unknown to the source host', async () => {
      before = lastHeartbeat(h1, FAULTY);
      const config = path.join(tb.dir, h1.name, 'home', '.ssh', 'config');
      const original = readFileSync(config, 'utf8');
      writeFileSync(config, `Host ${h2.address}\n  UserKnownHostsFile /dev/null\n${original}`);
      let run;
      try {
        run = await migrate(FAULTY, h1, h2, SLOW);
      } finally {
        writeFileSync(config, original);
      }
      expect(run.code).toBe(1);
      expect(failureLine(run)).toMatch(/host key is known|Host key verification failed/i);
      expect(failureLine(run)).toMatch(/still runs on the source and nothing is left on the destination/);
      await stillOnSource();
    });
  },
);
