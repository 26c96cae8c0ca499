import { describe, expect, it } from 'vitest';
import {
  attachDisk,
  detachDisk,
  detachNic,
  DETACH_WAIT_SECONDS,
  parseBlockList,
  parseInterfaceList,
} from '../../src/actions/hotplug.js';
import { createTestContext, failure, VIRSH } from './helpers.js';

const input = { host: 'node1', domain: 'one-5' };
const DOMBLKLIST = `${VIRSH} domblklist -- one-5`;
const DOMIFLIST = `${VIRSH} domiflist -- one-5`;
const DISK_XML = "<disk type='file' device='disk'>\n\t<target dev='vdb' bus='virtio'/>\n</disk>\n";
const MAC = '02:00:c0:a8:00:05';

// `virsh domblklist` output with these "target source" rows.
const blockList = (...rows: [string, string][]): { stdout: string } => ({
  stdout: [
    ' Target   Source',
    '------------------------------------------------',
    ...rows.map(([target, source]) => ` ${target.padEnd(8)} ${source}`),
    '',
    '',
  ].join('\n'),
});
const BOOT: [string, string] = ['vda', '/var/lib/one//datastores/0/5/disk.0'];
const DATA: [string, string] = ['vdb', '/var/lib/one//datastores/0/5/disk.2'];

const ifList = (...macs: string[]): { stdout: string } => ({
  stdout: [
    ' Interface   Type     Source   Model    MAC',
    '-----------------------------------------------------------',
    ...macs.map((mac, i) => ` one-5-${i}     bridge   br0      virtio   ${mac}`),
    '',
    '',
  ].join('\n'),
});

describe('attachDisk', () => {
  it('refuses a target that domblklist already lists, running no attach-device', async () => {
    const { ctx, runner } = createTestContext();
    runner.reply('domblklist', blockList(BOOT, DATA));

    const error = await failure(attachDisk(ctx, { ...input, target: 'vdb', diskXml: DISK_XML }));

    expect(error.message).toBe(
      "attach of disk vdb to one-5 on node1: the target vdb is already in use (by '/var/lib/one//datastores/0/5/disk.2'); nothing was changed",
    );
    expect(runner.commands()).toEqual([DOMBLKLIST]);
  });

  it('plugs the disk XML on stdin with attach-device --live and checks the target is listed', async () => {
    const { ctx, runner } = createTestContext();
    runner
      .reply('domblklist', blockList(BOOT), blockList(BOOT, DATA))
      .reply('attach-device', { stdout: 'Device attached successfully\n\n' });

    await attachDisk(ctx, { ...input, target: 'vdb', diskXml: DISK_XML });

    expect(runner.commands()).toEqual([
      DOMBLKLIST,
      `${VIRSH} attach-device --live --file /dev/stdin -- one-5`,
      DOMBLKLIST,
    ]);
    expect(runner.calls[1]?.step.stdin).toBe(DISK_XML);
  });

  it('fails when attach-device succeeded but the target is not listed afterwards', async () => {
    const { ctx, runner } = createTestContext();
    runner.reply('domblklist', blockList(BOOT)).reply('attach-device', { stdout: '' });

    const error = await failure(attachDisk(ctx, { ...input, target: 'vdb', diskXml: DISK_XML }));

    expect(error.message).toContain('virsh attach-device succeeded but the domain does not list vdb');
  });
});

describe('detachDisk', () => {
  it('succeeds without a detach command when the target is not attached', async () => {
    const { ctx, runner, logs } = createTestContext();
    runner.reply('domblklist', blockList(BOOT));

    expect(await detachDisk(ctx, { ...input, target: 'vdb' })).toEqual({ detached: false });
    expect(runner.commands()).toEqual([DOMBLKLIST]);
    expect(logs).toEqual([['I', 'vdb is not attached to one-5: nothing to detach']]);
  });

  it('polls domblklist until the guest released the disk', async () => {
    const { ctx, runner, clock } = createTestContext();
    runner
      .reply(
        'domblklist',
        blockList(BOOT, DATA),
        blockList(BOOT, DATA),
        blockList(BOOT, DATA),
        blockList(BOOT),
      )
      .reply('detach-disk', { stdout: 'Disk detached successfully\n\n' });

    expect(await detachDisk(ctx, { ...input, target: 'vdb' })).toEqual({ detached: true });
    expect(runner.commands()).toEqual([
      DOMBLKLIST,
      `${VIRSH} detach-disk --live -- one-5 vdb`,
      DOMBLKLIST,
      DOMBLKLIST,
      DOMBLKLIST,
    ]);
    expect(clock.sleeps).toEqual([500, 500]);
  });

  it(`fails naming the target when it is still listed after DETACH_WAIT_SECONDS (${DETACH_WAIT_SECONDS}s)`, async () => {
    const { ctx, runner, clock } = createTestContext();
    runner.reply('domblklist', blockList(BOOT, DATA)).reply('detach-disk', { stdout: '' });

    const error = await failure(detachDisk(ctx, { ...input, target: 'vdb' }));

    expect(error.message).toBe(
      `detach of disk vdb from one-5 on node1: the domain still lists vdb after ${DETACH_WAIT_SECONDS}s (the guest did not release it)`,
    );
    expect(clock.elapsed()).toBe(DETACH_WAIT_SECONDS * 1000);
    expect(runner.commands().filter((c) => c.includes('detach-disk'))).toHaveLength(1);
  });

  it('refuses a target that is not a disk target name, running nothing', async () => {
    const { ctx, runner } = createTestContext();

    await failure(detachDisk(ctx, { ...input, target: 'vdb; reboot' }));

    expect(runner.calls).toEqual([]);
  });
});

describe('detachNic', () => {
  const DETACH = `${VIRSH} detach-interface --live --type bridge --mac ${MAC} -- one-5`;

  it('succeeds without a detach command when no NIC has the MAC', async () => {
    const { ctx, runner } = createTestContext();
    runner.reply('domiflist', ifList('02:00:c0:a8:00:01'));

    expect(await detachNic(ctx, { ...input, mac: MAC })).toEqual({ detached: false, tries: 0 });
    expect(runner.commands()).toEqual([DOMIFLIST]);
  });

  it('tries detach-interface again (up to VIRSH_RETRIES) while domiflist still shows the MAC', async () => {
    const { ctx, runner, logs } = createTestContext({ VIRSH_RETRIES: '3' });
    // Still listed through the whole wait after try 1, gone after try 2.
    let tries = 0;
    runner
      .reply('detach-interface', () => {
        tries++;
        return { stdout: 'Interface detached successfully\n\n' };
      })
      .reply('domiflist', () => (tries < 2 ? ifList(MAC.toUpperCase()) : ifList()));

    expect(await detachNic(ctx, { ...input, mac: MAC.toUpperCase() })).toEqual({ detached: true, tries: 2 });
    expect(runner.commands().filter((c) => c === DETACH)).toHaveLength(2);
    expect(logs).toContainEqual([
      'W',
      `detach of NIC ${MAC} from one-5 on node1: still listed after try 1 of 3`,
    ]);
  });

  it('fails after VIRSH_RETRIES tries with the last virsh error', async () => {
    const { ctx, runner } = createTestContext({ VIRSH_RETRIES: '2' });
    runner.reply('domiflist', ifList(MAC)).reply('detach-interface', {
      exitCode: 1,
      stderr: 'error: operation failed: no matching network device was found\n',
    });

    const error = await failure(detachNic(ctx, { ...input, mac: MAC }));

    expect(error.message).toContain(`detach of NIC ${MAC} from one-5 on node1: the domain still lists it:`);
    expect(error.message).toContain('no matching network device was found');
    expect(runner.commands().filter((c) => c === DETACH)).toHaveLength(2);
  });
});

describe('parseBlockList / parseInterfaceList', () => {
  it('reads targets and sources of `virsh domblklist`, "-" for an empty CD-ROM', () => {
    const text = [
      ' Target   Source',
      '---------------------------------------------------',
      ' vda      /var/lib/one//datastores/0/5/disk.0',
      ' sda      -',
      ' vdb      /var/lib/one//datastores/0/5/my disk.2',
      '',
    ].join('\n');

    expect([...parseBlockList(text)]).toEqual([
      ['vda', '/var/lib/one//datastores/0/5/disk.0'],
      ['sda', '-'],
      ['vdb', '/var/lib/one//datastores/0/5/my disk.2'],
    ]);
  });

  it('reads MACs (lower case) and types of `virsh domiflist`', () => {
    const text = [
      ' Interface   Type      Source    Model    MAC',
      '--------------------------------------------------------------',
      ' one-5-0     bridge    br0       virtio   02:00:C0:A8:00:05',
      ' one-5-1     network   default   e1000    52:54:00:12:34:56',
      ' -           user      -         virtio   52:54:00:ab:cd:ef',
      '',
    ].join('\n');

    expect([...parseInterfaceList(text)]).toEqual([
      ['02:00:c0:a8:00:05', 'bridge'],
      ['52:54:00:12:34:56', 'network'],
      ['52:54:00:ab:cd:ef', 'user'],
    ]);
  });
});
