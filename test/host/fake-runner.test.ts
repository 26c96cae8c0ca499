import { describe, expect, it } from 'vitest';
import { CommandError, TransportError } from '../../src/host/errors.js';
import { FakeRunner } from '../../src/host/fake-runner.js';

const dominfo = { step: 'dominfo', argv: ['virsh', '--connect', 'qemu:///system', 'dominfo', 'one-7'] };

describe('FakeRunner', () => {
  it('records the exact command lines SshRunner would send', async () => {
    const runner = new FakeRunner({ fallback: {} });
    await runner.run('tb-h1', dominfo);
    await runner.run('tb-h2', {
      step: 'create',
      argv: ['virsh', 'create', '/dev/stdin'],
      stdin: '<domain/>',
      timeoutSeconds: 120,
    });
    expect(runner.commands()).toEqual([
      'LC_ALL=C timeout --kill-after=5s 60s virsh --connect qemu:///system dominfo one-7',
      'LC_ALL=C timeout --kill-after=5s 120s virsh create /dev/stdin',
    ]);
    expect(runner.commands('tb-h2')).toHaveLength(1);
    expect(runner.calls[1]?.step.stdin).toBe('<domain/>');
  });

  it('answers from the script: by substring, pattern or test; replies in turn, the last one repeating', async () => {
    const runner = new FakeRunner()
      .reply('dominfo', { stdout: 'State: running\n' }, { stdout: 'State: shut off\n' })
      .reply(/domstate/, { stdout: 'paused\n' })
      .reply(
        (call) => call.host === 'tb-h9',
        new TransportError({ host: 'tb-h9', failure: 'connect' }, 'down'),
      );
    const state = async (): Promise<string> => (await runner.run('tb-h1', dominfo)).stdout;
    expect([await state(), await state(), await state()]).toEqual([
      'State: running\n',
      'State: shut off\n',
      'State: shut off\n',
    ]);
    expect((await runner.run('tb-h1', { step: 's', argv: ['virsh', 'domstate', 'x'] })).stdout).toBe(
      'paused\n',
    );
    await expect(runner.run('tb-h9', { step: 's', argv: ['true'] })).rejects.toThrow('down');
  });

  it('fails like SshRunner on a non-zero exit, and names unscripted commands', async () => {
    const runner = new FakeRunner().reply('dominfo', {
      exitCode: 1,
      stderr: "error: failed to get domain 'one-7'\n",
    });
    const error = await runner.run('tb-h1', dominfo).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CommandError);
    expect((error as CommandError).message).toBe(
      "dominfo failed on tb-h1: exit code 1: error: failed to get domain 'one-7'",
    );
    await expect(runner.run('tb-h1', { step: 's', argv: ['virsh', 'list'] })).rejects.toThrow(
      'FakeRunner: no reply scripted for tb-h1: LC_ALL=C timeout --kill-after=5s 60s virsh list',
    );
  });

  it('computes replies with functions and honours aborted signals', async () => {
    const runner = new FakeRunner({ commandTimeoutSeconds: 30 }).reply('echo', (call) => ({
      stdout: call.step.argv[1],
    }));
    expect((await runner.run('h', { step: 'e', argv: ['echo', 'hi'] })).stdout).toBe('hi');
    expect(runner.commands()).toEqual(['LC_ALL=C timeout --kill-after=5s 30s echo hi']);
    await expect(
      runner.run('h', { step: 'e', argv: ['echo', 'x'], signal: AbortSignal.abort() }),
    ).rejects.toMatchObject({
      reason: 'cancelled',
    });
  });
});
