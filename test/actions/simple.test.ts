import { describe, expect, it } from 'vitest';
import { reboot, reset } from '../../src/actions/simple.js';
import { createTestContext, recorded } from './helpers.js';

const input = { host: 'node1', domain: 'one-5' };

describe('reboot and reset', () => {
  it('reboot sends one `virsh reboot`', async () => {
    const { ctx, runner } = createTestContext();
    runner.reply('reboot -- one-5', { stdout: "Domain 'one-5' is being rebooted\n\n" });

    await reboot(ctx, input);

    expect(runner.commands()).toEqual([
      'LC_ALL=C timeout --kill-after=5s 60s virsh --connect qemu:///system reboot -- one-5',
    ]);
  });

  it('reset sends one `virsh reset`', async () => {
    const { ctx, runner } = createTestContext();
    runner.reply('reset -- one-5', { stdout: "Domain 'one-5' was reset\n\n" });

    await reset(ctx, input);

    expect(runner.commands()).toEqual([
      'LC_ALL=C timeout --kill-after=5s 60s virsh --connect qemu:///system reset -- one-5',
    ]);
  });

  it('uses LIBVIRT_URI and COMMAND_TIMEOUT from kvmrc', async () => {
    const { ctx, runner } = createTestContext({ LIBVIRT_URI: 'qemu+tcp://localhost/system' });
    runner.reply(() => true, {});

    await reboot(ctx, input);

    expect(runner.commands()).toEqual([
      'LC_ALL=C timeout --kill-after=5s 60s virsh --connect qemu+tcp://localhost/system reboot -- one-5',
    ]);
  });

  it.each([
    ['reboot', reboot],
    ['reset', reset],
  ])('%s fails for a domain that is gone', async (_name, action) => {
    const { ctx, runner } = createTestContext();
    runner.reply(() => true, recorded('domstate-missing', 'one-5'));

    await expect(action(ctx, input)).rejects.toThrow("error: failed to get domain 'one-5'");
  });
});
