import { describe, expect, it } from 'vitest';
import { cancel } from '../../src/actions/cancel.js';
import { cleanup } from '../../src/actions/cleanup.js';
import { CommandError } from '../../src/host/errors.js';
import { createTestContext, recorded, VIRSH } from './helpers.js';

const input = { host: 'node1', domain: 'one-5' };
const DESTROY = `${VIRSH} destroy -- one-5`;
const DOMSTATE = `${VIRSH} domstate -- one-5`;

describe('cancel', () => {
  it('destroys a running domain and checks that it is gone', async () => {
    const { ctx, runner } = createTestContext();
    runner
      .reply('destroy -- one-5', recorded('destroy-running'))
      .reply('domstate -- one-5', recorded('domstate-missing', 'one-5'));

    expect(await cancel(ctx, input)).toEqual({ wasRunning: true });
    expect(runner.commands()).toEqual([
      'LC_ALL=C timeout --kill-after=5s 60s virsh --connect qemu:///system destroy -- one-5',
      'LC_ALL=C timeout --kill-after=5s 60s virsh --connect qemu:///system domstate -- one-5',
    ]);
  });

  it('succeeds for a domain that is already gone', async () => {
    const { ctx, runner } = createTestContext();
    runner
      .reply('destroy -- one-5', recorded('destroy-missing', 'one-5'))
      .reply('domstate -- one-5', recorded('domstate-missing', 'one-5'));

    expect(await cancel(ctx, input)).toEqual({ wasRunning: false });
    expect(runner.commands()).toEqual([DESTROY, DOMSTATE]);
  });

  it('succeeds for a persistent domain that is shut off', async () => {
    const { ctx, runner } = createTestContext();
    runner
      .reply('destroy -- one-5', recorded('destroy-not-running', 'one-5'))
      .reply('domstate -- one-5', recorded('domstate-shut-off'));

    expect(await cancel(ctx, input)).toEqual({ wasRunning: false });
  });

  it('fails when the domain still runs after destroy returned', async () => {
    const { ctx, runner } = createTestContext();
    runner
      .reply('destroy -- one-5', recorded('destroy-running'))
      .reply('domstate -- one-5', recorded('domstate-running'));

    await expect(cancel(ctx, input)).rejects.toThrow(
      'destroy of one-5 on node1 returned, but the domain is still running',
    );
    await expect(cancel(ctx, input)).rejects.toMatchObject({ code: 'ACTION' });
  });

  it('fails on any other destroy error without checking the state', async () => {
    const { ctx, runner } = createTestContext();
    runner
      .reply('destroy -- one-5', {
        exitCode: 1,
        stderr:
          "error: Failed to destroy domain 'one-5'\nerror: Failed to terminate process 4242 with SIGKILL: Device or resource busy\n",
      })
      .reply(() => true, {});

    const failure = cancel(ctx, input);

    await expect(failure).rejects.toBeInstanceOf(CommandError);
    await expect(failure).rejects.toThrow(
      /destroy domain failed on node1: exit code 1: .*Device or resource busy/,
    );
    expect(runner.commands()).toEqual([DESTROY]);
  });

  it('fails when libvirtd cannot be reached (never "already gone")', async () => {
    const { ctx, runner } = createTestContext();
    runner.reply(() => true, recorded('libvirtd-down'));

    await expect(cancel(ctx, input)).rejects.toThrow(/failed to connect to the hypervisor/);
    expect(runner.commands()).toEqual([DESTROY]);
  });
});

describe('cleanup', () => {
  it('destroys a domain that still runs and logs it', async () => {
    const { ctx, runner, logs } = createTestContext();
    runner
      .reply('destroy -- one-5', recorded('destroy-running'))
      .reply('domstate -- one-5', recorded('domstate-missing', 'one-5'));

    await cleanup(ctx, input);

    expect(runner.commands()).toEqual([DESTROY, DOMSTATE]);
    expect(logs).toEqual([['I', 'destroyed one-5 on node1']]);
  });

  it('is a quiet success for a domain that is gone', async () => {
    const { ctx, runner, logs } = createTestContext();
    runner
      .reply('destroy -- one-5', recorded('destroy-missing', 'one-5'))
      .reply('domstate -- one-5', recorded('domstate-missing', 'one-5'));

    await cleanup(ctx, input);

    expect(runner.commands()).toEqual([DESTROY, DOMSTATE]);
    expect(logs).toEqual([]);
  });
});
