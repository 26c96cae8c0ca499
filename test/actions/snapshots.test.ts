import { describe, expect, it } from 'vitest';
import {
  createSnapshot,
  deleteSnapshot,
  keptSnapshotFiles,
  revertSnapshot,
  withDomainUuid,
} from '../../src/actions/snapshots.js';
import { createTestContext, failure, VIRSH } from './helpers.js';

const input = { host: 'node1', domain: 'one-5' };
const DIR = '/var/lib/one//datastores/0/5';
const METADATA = `${VIRSH} metadata --uri http://opennebula.org/xmlns/libvirt/1.0 -- one-5`;
const SNAPSHOT_LIST = `${VIRSH} snapshot-list --name --topological -- one-5`;
const WITH_METADATA = { stdout: `<vm><system_datastore>${DIR}</system_datastore></vm>\n` };
const NO_METADATA = {
  exitCode: 1,
  stderr: 'error: metadata not found: Requested metadata element is not present\n',
};
const keep = (name: string): string =>
  `LC_ALL=C timeout --kill-after=5s 60s sh -c 'cat > "$1"' sh ${DIR}/${name}.xml`;
const snapshotXml = (name: string): string => `<domainsnapshot><name>${name}</name></domainsnapshot>\n`;

describe('createSnapshot', () => {
  it('names the snapshot snap-<id> and keeps its XML in the system datastore directory', async () => {
    const { ctx, runner } = createTestContext();
    runner
      .reply('snapshot-list', { stdout: 'snap-0\n\n' })
      .reply(' metadata ', WITH_METADATA)
      .reply('snapshot-create-as', { stdout: 'Domain snapshot snap-3 created\n' })
      .reply('snapshot-dumpxml', { stdout: snapshotXml('snap-3') })
      .reply('cat >', { stdout: '' });

    const result = await createSnapshot(ctx, { ...input, snapshotId: '3' });

    expect(result).toEqual({ name: 'snap-3', kept: `${DIR}/snap-3.xml` });
    expect(runner.commands()).toEqual([
      SNAPSHOT_LIST,
      METADATA,
      `${VIRSH} snapshot-create-as --name snap-3 -- one-5`,
      `${VIRSH} snapshot-dumpxml -- one-5 snap-3`,
      keep('snap-3'),
    ]);
    expect(runner.calls.at(-1)?.step.stdin).toBe(snapshotXml('snap-3'));
  });

  it('warns and keeps no file when the domain has no OpenNebula metadata', async () => {
    const { ctx, runner, logs } = createTestContext();
    runner
      .reply('snapshot-list', { stdout: '\n' })
      .reply(' metadata ', NO_METADATA)
      .reply('snapshot-create-as', { stdout: '' });

    expect(await createSnapshot(ctx, { ...input, snapshotId: '0' })).toEqual({ name: 'snap-0' });
    expect(runner.commands().at(-1)).toBe(`${VIRSH} snapshot-create-as --name snap-0 -- one-5`);
    expect(logs).toEqual([
      [
        'W',
        'snapshot snap-0 of one-5 on node1: the domain has no OpenNebula metadata, so the snapshot XML is not kept on disk',
      ],
    ]);
  });

  it('tries again while libvirt reports an active block job', async () => {
    const { ctx, runner, clock } = createTestContext();
    runner
      .reply('snapshot-list', { stdout: '\n' })
      .reply(' metadata ', NO_METADATA)
      .reply(
        'snapshot-create-as',
        { exitCode: 1, stderr: 'error: Operation not supported: domain has active block job\n' },
        { stdout: '' },
      );

    expect((await createSnapshot(ctx, { ...input, snapshotId: '1' })).name).toBe('snap-1');
    expect(runner.commands().filter((c) => c.includes('snapshot-create-as'))).toHaveLength(2);
    expect(clock.sleeps).toEqual([5000]);
  });

  it('refuses a snapshot id that is not a number, running nothing', async () => {
    const { ctx, runner } = createTestContext();

    await failure(createSnapshot(ctx, { ...input, snapshotId: '1;reboot' }));

    expect(runner.calls).toEqual([]);
  });
});

describe('revertSnapshot / deleteSnapshot', () => {
  it('revert of an unknown snapshot fails naming the VM and host and runs nothing else', async () => {
    const { ctx, runner } = createTestContext();
    runner.reply('snapshot-list', { stdout: 'snap-0\nsnap-1\n\n' });

    const error = await failure(revertSnapshot(ctx, { ...input, name: 'snap-7' }));

    expect(error.message).toBe(
      "snapshot_revert of one-5 to 'snap-7': one-5 on node1 has no snapshot 'snap-7' (it has snap-0, snap-1); nothing was changed",
    );
    expect(runner.commands()).toEqual([SNAPSHOT_LIST]);
  });

  it('delete of an unknown snapshot fails naming the VM and host and runs nothing else', async () => {
    const { ctx, runner } = createTestContext();
    runner.reply('snapshot-list', { stdout: '\n' });

    const error = await failure(deleteSnapshot(ctx, { ...input, name: 'snap-7' }));

    expect(error.message).toContain(
      "one-5 on node1 has no snapshot 'snap-7' (it has none); nothing was changed",
    );
    expect(runner.commands()).toEqual([SNAPSHOT_LIST]);
  });

  it('revert runs snapshot-revert --force', async () => {
    const { ctx, runner } = createTestContext();
    runner.reply('snapshot-list', { stdout: 'snap-0\n' }).reply('snapshot-revert', { stdout: '' });

    await revertSnapshot(ctx, { ...input, name: 'snap-0' });

    expect(runner.commands()).toEqual([SNAPSHOT_LIST, `${VIRSH} snapshot-revert --force -- one-5 snap-0`]);
  });

  it('delete removes the kept file and keeps the XML of the remaining snapshots current', async () => {
    const { ctx, runner } = createTestContext();
    runner
      .reply('snapshot-list', { stdout: 'snap-0\nsnap-1\nsnap-2\n' }, { stdout: 'snap-0\nsnap-2\n' })
      .reply(' metadata ', WITH_METADATA)
      .reply('snapshot-delete', { stdout: 'Domain snapshot snap-1 deleted\n' })
      .reply(' rm -f ', { stdout: '' })
      .reply('snapshot-dumpxml', (call) => ({ stdout: snapshotXml(call.step.argv.at(-1) ?? '') }))
      .reply('cat >', { stdout: '' });

    await deleteSnapshot(ctx, { ...input, name: 'snap-1' });

    expect(runner.commands()).toEqual([
      SNAPSHOT_LIST,
      METADATA,
      `${VIRSH} snapshot-delete -- one-5 snap-1`,
      `LC_ALL=C timeout --kill-after=5s 60s rm -f -- ${DIR}/snap-1.xml`,
      SNAPSHOT_LIST,
      `${VIRSH} snapshot-dumpxml -- one-5 snap-0`,
      keep('snap-0'),
      `${VIRSH} snapshot-dumpxml -- one-5 snap-2`,
      keep('snap-2'),
    ]);
  });
});

describe('withDomainUuid', () => {
  it("replaces only the <uuid> of the snapshot's <domain>", () => {
    const xml = [
      '<domainsnapshot>',
      '  <name>snap-0</name>',
      '  <uuid>not-the-domain</uuid>',
      '  <domain type="kvm">',
      '    <name>one-5</name>',
      '    <uuid>11111111-1111-1111-1111-111111111111</uuid>',
      '    <devices><disk><uuid>disk-uuid</uuid></disk></devices>',
      '  </domain>',
      '</domainsnapshot>',
    ].join('\n');

    const out = withDomainUuid(xml, '22222222-2222-2222-2222-222222222222');

    expect(out).toContain('<uuid>22222222-2222-2222-2222-222222222222</uuid>');
    expect(out).not.toContain('11111111');
    expect(out).toContain('<uuid>not-the-domain</uuid>');
    expect(out).toContain('<uuid>disk-uuid</uuid>');
  });

  it('returns XML it cannot parse unchanged', () => {
    expect(withDomainUuid('<domainsnapshot><domain>', 'u')).toBe('<domainsnapshot><domain>');
  });
});

describe('keptSnapshotFiles', () => {
  it('sorts numerically (snap-2 before snap-10) and drops other lines', () => {
    const listing = [
      `${DIR}/snap-10.xml`,
      `${DIR}/snap-2.xml`,
      `${DIR}/snap-x.xml`,
      '',
      `${DIR}/snap-0.xml`,
    ].join('\n');

    expect(keptSnapshotFiles(listing)).toEqual([
      `${DIR}/snap-0.xml`,
      `${DIR}/snap-2.xml`,
      `${DIR}/snap-10.xml`,
    ]);
  });
});
