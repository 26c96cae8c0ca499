import { describe, expect, it } from 'vitest';
import { dimmXml, resize, resizeDisk } from '../../src/actions/resize.js';
import { createTestContext, VIRSH } from './helpers.js';

const base = { host: 'node1', domain: 'one-5' };

describe('resize', () => {
  it('balloons memory with setmem --live in KiB', async () => {
    const { ctx, runner } = createTestContext();
    runner.reply('setmem', { stdout: '' });

    const result = await resize(ctx, { ...base, memory: 2048, oldMemory: 1024, memoryMode: 'BALLOONING' });

    expect(result.changed).toEqual(['memory 1024 → 2048 MiB']);
    expect(runner.commands()).toEqual([`${VIRSH} setmem --live -- one-5 2097152`]);
  });

  it('plugs a DIMM of the difference with MEMORY_RESIZE_MODE=HOTPLUG', async () => {
    const { ctx, runner } = createTestContext();
    runner.reply('attach-device', { stdout: '' });

    await resize(ctx, { ...base, memory: 1536, oldMemory: 1024, memoryMode: 'HOTPLUG', node: 1 });

    expect(runner.commands()).toEqual([`${VIRSH} attach-device --live --file /dev/stdin -- one-5`]);
    expect(runner.calls[0]?.step.stdin).toBe(dimmXml(512, 1));
    expect(dimmXml(512, 1)).toBe(
      "<memory model='dimm'>\n\t<target>\n\t\t<size unit='MiB'>512</size>\n\t\t<node>1</node>\n\t</target>\n</memory>\n",
    );
  });

  it('unplugs a DIMM of |Δ| MiB when memory shrinks with HOTPLUG', async () => {
    const { ctx, runner } = createTestContext();
    runner.reply('detach-device', { stdout: '' });

    await resize(ctx, { ...base, memory: 1024, oldMemory: 2048, memoryMode: 'HOTPLUG' });

    expect(runner.commands()).toEqual([`${VIRSH} detach-device --live --file /dev/stdin -- one-5`]);
    expect(runner.calls[0]?.step.stdin).toBe(dimmXml(1024, 0));
  });

  it('sets vCPUs with setvcpus --live --hotpluggable', async () => {
    const { ctx, runner } = createTestContext();
    runner.reply('setvcpus', { stdout: '' });

    const result = await resize(ctx, { ...base, vcpu: 4, oldVcpu: 2, memoryMode: 'BALLOONING' });

    expect(result.changed).toEqual(['vcpu 2 → 4']);
    expect(runner.commands()).toEqual([`${VIRSH} setvcpus --live --hotpluggable -- one-5 4`]);
  });

  it('runs nothing when VCPU and MEMORY are unchanged', async () => {
    const { ctx, runner, logs } = createTestContext();

    const result = await resize(ctx, {
      ...base,
      vcpu: 2,
      oldVcpu: 2,
      memory: 1024,
      oldMemory: 1024,
      memoryMode: 'BALLOONING',
    });

    expect(result.changed).toEqual([]);
    expect(runner.calls).toEqual([]);
    expect(logs).toEqual([['I', 'resize of one-5 on node1: VCPU and MEMORY are unchanged; nothing to do']]);
  });
});

describe('resizeDisk', () => {
  // `virsh domblkinfo` of a 1 GiB disk.
  const ONE_GIB = { stdout: 'Capacity:       1073741824\nAllocation:     200704\nPhysical:       196616\n' };

  it('reads the size, then runs blockresize with the new size in MiB', async () => {
    const { ctx, runner } = createTestContext();
    runner.reply('domblkinfo', ONE_GIB);
    runner.reply('blockresize', { stdout: 'Block device vda is resized\n' });

    await resizeDisk(ctx, { ...base, target: 'vda', sizeMiB: 2048 });

    expect(runner.commands()).toEqual([
      `${VIRSH} domblkinfo -- one-5 vda`,
      `${VIRSH} blockresize -- one-5 vda 2048M`,
    ]);
  });

  it('refuses to shrink a disk (libvirt would do it silently) and runs no blockresize', async () => {
    const { ctx, runner } = createTestContext();
    runner.reply('domblkinfo', ONE_GIB);

    await expect(resizeDisk(ctx, { ...base, target: 'vda', sizeMiB: 512 })).rejects.toThrow(
      /resize of disk vda of one-5 on node1: 512 MiB is smaller than its 1024 MiB; disks only grow \(nothing was changed\)/,
    );
    expect(runner.commands()).toEqual([`${VIRSH} domblkinfo -- one-5 vda`]);
  });

  it('the same size is a success with nothing to do', async () => {
    const { ctx, runner } = createTestContext();
    runner.reply('domblkinfo', ONE_GIB);

    await resizeDisk(ctx, { ...base, target: 'vda', sizeMiB: 1024 });

    expect(runner.commands()).toEqual([`${VIRSH} domblkinfo -- one-5 vda`]);
  });

  it("tries again 5 s later while the disk 'is in use'", async () => {
    const { ctx, runner, clock } = createTestContext();
    runner.reply('domblkinfo', ONE_GIB);
    runner.reply(
      'blockresize',
      { exitCode: 1, stderr: "error: Requested operation is not valid: disk 'vda' is in use\n" },
      { stdout: '' },
    );

    await resizeDisk(ctx, { ...base, target: 'vda', sizeMiB: 2048 });

    expect(runner.commands()).toHaveLength(3);
    expect(clock.sleeps).toEqual([5000]);
  });

  it('gives up after 3 tries', async () => {
    const { ctx, runner } = createTestContext();
    runner.reply('domblkinfo', ONE_GIB);
    runner.reply('blockresize', { exitCode: 1, stderr: "error: disk 'vda' is in use\n" });

    await expect(resizeDisk(ctx, { ...base, target: 'vda', sizeMiB: 2048 })).rejects.toThrow(/is in use/);
    expect(runner.commands()).toHaveLength(4);
  });
});
