import { describe, expect, it } from 'vitest';
import { isStopped, readDomainState, type DomainState } from '../../src/actions/domain-state.js';
import { TransportError } from '../../src/host/errors.js';
import { createTestContext, recorded } from './helpers.js';

async function stateFor(stdout: string): Promise<DomainState> {
  const { ctx, runner } = createTestContext();
  runner.reply('domstate -- one-5', { stdout });
  return readDomainState(ctx, 'node1', 'one-5');
}

describe('readDomainState', () => {
  it('sends `virsh domstate <domain>`', async () => {
    const { ctx, runner } = createTestContext();
    runner.reply('domstate', recorded('domstate-running'));

    expect(await readDomainState(ctx, 'node1', 'one-5')).toBe('running');
    expect(runner.commands()).toEqual([
      'LC_ALL=C timeout --kill-after=5s 60s virsh --connect qemu:///system domstate -- one-5',
    ]);
  });

  it.each([
    ['running\n\n', 'running'],
    ['idle\n\n', 'running'],
    ['blocked\n\n', 'running'],
    ['paused\n\n', 'paused'],
    ['shut off\n\n', 'shut off'],
    ['in shutdown\n\n', 'shutdown'],
    ['crashed\n\n', 'crashed'],
    ['pmsuspended\n\n', 'pmsuspended'],
    ['dying\n\n', 'other'],
    ['no state\n\n', 'other'],
  ] as const)('reads %j as %s', async (stdout, state) => {
    expect(await stateFor(stdout)).toBe(state);
  });

  it('reads the recorded test-driver answers', async () => {
    for (const [name, state] of [
      ['domstate-running', 'running'],
      ['domstate-paused', 'paused'],
      ['domstate-shut-off', 'shut off'],
    ] as const) {
      const { ctx, runner } = createTestContext();
      runner.reply('domstate', recorded(name));
      expect(await readDomainState(ctx, 'node1', 'one-5')).toBe(state);
    }
  });

  it('is absent for a domain libvirt does not know', async () => {
    const { ctx, runner } = createTestContext();
    runner.reply('domstate', recorded('domstate-missing', 'one-5'));

    expect(await readDomainState(ctx, 'node1', 'one-5')).toBe('absent');
  });

  it('throws when libvirtd or the host cannot be reached (never "absent")', async () => {
    const { ctx, runner } = createTestContext();
    runner
      .reply((call) => call.host === 'node1', recorded('libvirtd-down'))
      .reply((call) => call.host === 'node2', new TransportError({ host: 'node2', failure: 'lost' }, 'lost'));

    await expect(readDomainState(ctx, 'node1', 'one-5')).rejects.toThrow(
      /failed to connect to the hypervisor/,
    );
    await expect(readDomainState(ctx, 'node2', 'one-5')).rejects.toBeInstanceOf(TransportError);
  });
});

describe('isStopped', () => {
  it('is true only for absent and shut off', () => {
    const states: DomainState[] = [
      'absent',
      'running',
      'paused',
      'shut off',
      'shutdown',
      'crashed',
      'pmsuspended',
      'other',
    ];
    expect(states.filter(isStopped)).toEqual(['absent', 'shut off']);
  });
});
