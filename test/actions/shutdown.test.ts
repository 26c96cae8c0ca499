import { describe, expect, it } from 'vitest';
import { shutdown } from '../../src/actions/shutdown.js';
import { CommandError } from '../../src/host/errors.js';
import type { FakeCall, FakeReply } from '../../src/host/fake-runner.js';
import { OnevmmError } from '../../src/util/errors.js';
import { createTestContext, recorded, VIRSH, type FakeClock } from './helpers.js';

const input = { host: 'node1', domain: 'one-5' };
const DOMSTATE = `${VIRSH} domstate -- one-5`;
const SHUTDOWN = `${VIRSH} shutdown -- one-5`;

// domstate replies: `running` for the first `runningPolls` calls, then the domain is gone.
function goneAfter(runningPolls: number): FakeReply {
  let calls = 0;
  return () =>
    ++calls <= runningPolls ? recorded('domstate-running') : recorded('domstate-missing', 'one-5');
}

// Seconds on the fake clock at which each matching command was sent.
function timesOf(log: { at: number; command: string }[], match: string): number[] {
  return log.filter((entry) => entry.command.includes(match)).map((entry) => entry.at / 1000);
}

// Records when (on the fake clock) each call came, then answers with `reply`.
function timed(clock: FakeClock, log: { at: number; command: string }[], reply: FakeReply): FakeReply {
  return (call: FakeCall) => {
    log.push({ at: clock.elapsed(), command: call.command });
    return reply;
  };
}

describe('shutdown', () => {
  it('presses the power button once and reports powered-off when the guest is gone after N polls', async () => {
    const { ctx, runner, clock, logs } = createTestContext();
    runner.reply('domstate', goneAfter(4)).reply('shutdown', recorded('shutdown-running'));

    const result = await shutdown(ctx, input);

    // One domstate before, then 3 polls still running and the 4th finds it gone.
    expect(result).toEqual({ outcome: 'powered-off', seconds: 0.8 });
    expect(runner.commands()).toEqual([
      'LC_ALL=C timeout --kill-after=5s 60s virsh --connect qemu:///system domstate -- one-5',
      'LC_ALL=C timeout --kill-after=5s 60s virsh --connect qemu:///system shutdown -- one-5',
      DOMSTATE,
      DOMSTATE,
      DOMSTATE,
      DOMSTATE,
    ]);
    expect(clock.sleeps).toEqual([200, 200, 200, 200]);
    expect(logs).toEqual([]);
  });

  it('counts a persistent domain that reaches "shut off" as powered off', async () => {
    const { ctx, runner } = createTestContext();
    runner
      .reply(
        'domstate',
        recorded('domstate-running'),
        recorded('domstate-running'),
        recorded('domstate-shut-off'),
      )
      .reply('shutdown', recorded('shutdown-running'));

    expect((await shutdown(ctx, input)).outcome).toBe('powered-off');
    // "shut off" is read until it has lasted a second (5 polls of 200 ms): a transient domain vanishes
    // in that time once libvirt has torn it down (and its tap devices) completely.
    expect(runner.commands()).toEqual([DOMSTATE, SHUTDOWN, DOMSTATE, ...Array<string>(6).fill(DOMSTATE)]);
  });

  it('reports a transient domain once it vanished after "shut off"', async () => {
    const { ctx, runner } = createTestContext();
    runner
      .reply(
        'domstate',
        recorded('domstate-running'),
        recorded('domstate-shut-off'),
        recorded('domstate-missing'),
      )
      .reply('shutdown', recorded('shutdown-running'));

    expect((await shutdown(ctx, input)).outcome).toBe('powered-off');
    expect(runner.commands()).toEqual([DOMSTATE, SHUTDOWN, DOMSTATE, DOMSTATE]);
  });

  it('keeps waiting while the domain is "in shutdown"', async () => {
    const { ctx, runner } = createTestContext();
    runner
      .reply(
        'domstate',
        recorded('domstate-running'),
        { stdout: 'in shutdown\n\n' },
        { stdout: 'in shutdown\n\n' },
        recorded('domstate-missing', 'one-5'),
      )
      .reply('shutdown', recorded('shutdown-running'));

    expect(await shutdown(ctx, input)).toEqual({ outcome: 'powered-off', seconds: 0.6 });
  });

  it('re-sends the ACPI request every SHUTDOWN_RESEND seconds while waiting', async () => {
    const { ctx, runner, clock, logs } = createTestContext({
      SHUTDOWN_RESEND: '10',
      SHUTDOWN_TIMEOUT: '180',
    });
    const sent: { at: number; command: string }[] = [];
    // Running for 35 s (175 polls of 200 ms), then gone.
    runner
      .reply('domstate', timed(clock, sent, goneAfter(1 + 175)))
      .reply('shutdown', timed(clock, sent, recorded('shutdown-running')));

    const result = await shutdown(ctx, input);

    expect(result.outcome).toBe('powered-off');
    expect(timesOf(sent, 'shutdown -- one-5')).toEqual([0, 10, 20, 30]);
    expect(runner.commands().filter((command) => command === SHUTDOWN)).toHaveLength(4);
    expect(logs).toEqual([
      ['I', 'one-5 still running after 10 s: pressing the power button again'],
      ['I', 'one-5 still running after 20 s: pressing the power button again'],
      ['I', 'one-5 still running after 30 s: pressing the power button again'],
    ]);
  });

  it('destroys the domain after SHUTDOWN_TIMEOUT with FORCE_DESTROY=yes', async () => {
    const { ctx, runner, clock, logs } = createTestContext({
      SHUTDOWN_TIMEOUT: '30',
      SHUTDOWN_RESEND: '10',
      FORCE_DESTROY: 'yes',
    });
    let destroyed = false;
    runner
      .reply('domstate', () =>
        destroyed ? recorded('domstate-missing', 'one-5') : recorded('domstate-running'),
      )
      .reply('shutdown', recorded('shutdown-running'))
      .reply('destroy', () => {
        destroyed = true;
        return recorded('destroy-running');
      });

    const result = await shutdown(ctx, input);

    expect(result).toEqual({ outcome: 'destroyed', seconds: 30 });
    expect(clock.elapsed()).toBe(30_000);
    const commands = runner.commands();
    expect(commands.slice(-3)).toEqual([DOMSTATE, `${VIRSH} destroy -- one-5`, DOMSTATE]);
    expect(commands.filter((command) => command === SHUTDOWN)).toHaveLength(3);
    // 1 check before, 150 polls of 200 ms, 1 check after the destroy.
    expect(commands.filter((command) => command === DOMSTATE)).toHaveLength(152);
    expect(logs.at(-1)).toEqual([
      'W',
      'Timeout shutting down one-5 after 30 s: destroying it (FORCE_DESTROY=yes)',
    ]);
  });

  it('fails with a TIMEOUT error naming the domain, host and timeout with FORCE_DESTROY=no', async () => {
    const { ctx, runner, clock } = createTestContext({ SHUTDOWN_TIMEOUT: '20', FORCE_DESTROY: 'no' });
    runner.reply('domstate', recorded('domstate-running')).reply('shutdown', recorded('shutdown-running'));

    const failure = shutdown(ctx, input);

    await expect(failure).rejects.toMatchObject({ code: 'TIMEOUT' });
    await expect(failure).rejects.toThrow(
      'Timed out shutting down one-5 on node1 after 20 s; it is still running (FORCE_DESTROY=no)',
    );
    expect(runner.commands().some((command) => command.includes(' destroy '))).toBe(false);
    expect(clock.elapsed()).toBe(20_000);
  });

  it.each([
    ['gone', recorded('domstate-missing', 'one-5')],
    ['shut off', recorded('domstate-shut-off')],
  ])('reports already-gone for a domain that is %s, without a shutdown command', async (_state, reply) => {
    const { ctx, runner, clock } = createTestContext();
    runner.reply('domstate', reply).reply(() => true, {});

    expect(await shutdown(ctx, input)).toEqual({ outcome: 'already-gone', seconds: 0 });
    expect(runner.commands()).toEqual([DOMSTATE]);
    expect(clock.sleeps).toEqual([]);
  });

  it.each([
    ['not running', recorded('shutdown-not-running', 'one-5')],
    ['not found', recorded('destroy-missing', 'one-5')],
  ])('counts a "%s" answer to the shutdown command as success', async (_what, reply) => {
    const { ctx, runner } = createTestContext();
    runner.reply('domstate', recorded('domstate-running')).reply('shutdown', reply);

    expect(await shutdown(ctx, input)).toEqual({ outcome: 'already-gone', seconds: 0 });
    expect(runner.commands()).toEqual([DOMSTATE, SHUTDOWN]);
  });

  it('fails on any other shutdown error, without destroying', async () => {
    const { ctx, runner } = createTestContext();
    runner
      .reply('domstate', recorded('domstate-running'))
      .reply('shutdown', {
        exitCode: 1,
        stderr:
          "error: Failed to shutdown domain 'one-5'\nerror: Timed out during operation: cannot acquire state change lock (held by monitor=remoteDispatchDomainSave)\n",
      })
      .reply(() => true, {});

    const failure = shutdown(ctx, input);

    await expect(failure).rejects.toBeInstanceOf(CommandError);
    await expect(failure).rejects.toThrow(
      /send ACPI shutdown failed on node1: exit code 1: error: Failed to shutdown/,
    );
    expect(runner.commands()).toEqual([DOMSTATE, SHUTDOWN]);
  });

  it('destroys at once a domain without <acpi/> when CANCEL_NO_ACPI=yes', async () => {
    const { ctx, runner, logs } = createTestContext({ CANCEL_NO_ACPI: 'yes' });
    let destroyed = false;
    runner
      .reply('domstate', () =>
        destroyed ? recorded('domstate-missing', 'one-5') : recorded('domstate-running'),
      )
      .reply('dumpxml -- one-5', recorded('dumpxml-no-acpi'))
      .reply('destroy -- one-5', () => {
        destroyed = true;
        return recorded('destroy-running');
      });

    expect(await shutdown(ctx, input)).toEqual({ outcome: 'destroyed', seconds: 0 });
    expect(runner.commands()).toEqual([
      DOMSTATE,
      `${VIRSH} dumpxml -- one-5`,
      `${VIRSH} destroy -- one-5`,
      DOMSTATE,
    ]);
    expect(logs).toEqual([['I', 'one-5 has no ACPI and CANCEL_NO_ACPI=yes: destroying it']]);
  });

  it('uses ACPI for a domain with <acpi/> when CANCEL_NO_ACPI=yes', async () => {
    const { ctx, runner } = createTestContext({ CANCEL_NO_ACPI: 'yes' });
    runner
      .reply('domstate', goneAfter(2))
      .reply('dumpxml -- one-5', recorded('dumpxml-acpi'))
      .reply('shutdown', recorded('shutdown-running'));

    expect((await shutdown(ctx, input)).outcome).toBe('powered-off');
    expect(runner.commands()).toEqual([DOMSTATE, `${VIRSH} dumpxml -- one-5`, SHUTDOWN, DOMSTATE, DOMSTATE]);
  });

  it('does not read the domain XML when CANCEL_NO_ACPI is not set', async () => {
    const { ctx, runner } = createTestContext();
    runner.reply('domstate', goneAfter(1)).reply('shutdown', recorded('shutdown-running'));

    await shutdown(ctx, input);

    expect(runner.commands()).toEqual([DOMSTATE, SHUTDOWN, DOMSTATE]);
  });

  it('stops waiting as soon as the signal aborts, without destroying', async () => {
    const controller = new AbortController();
    const reason = new OnevmmError('CANCELLED', 'shutdown interrupted');
    const { ctx, runner, clock } = createTestContext({}, { signal: controller.signal });
    let polls = 0;
    runner
      .reply('domstate', () => {
        if (++polls === 3) controller.abort(reason);
        return recorded('domstate-running');
      })
      .reply(() => true, recorded('shutdown-running'));

    await expect(shutdown(ctx, input)).rejects.toBe(reason);
    expect(runner.commands()).toEqual([DOMSTATE, SHUTDOWN, DOMSTATE, DOMSTATE]);
    expect(clock.elapsed()).toBe(400);
    // Every command of the action carries the signal, so the runner can kill it.
    expect(runner.calls.every((call) => call.step.signal === controller.signal)).toBe(true);
  });

  it('sends nothing at all when the signal has already aborted', async () => {
    const controller = new AbortController();
    controller.abort(new OnevmmError('CANCELLED', 'cancelled'));
    const { ctx, runner } = createTestContext({}, { signal: controller.signal });
    runner.reply(() => true, recorded('domstate-running'));

    const failure = shutdown(ctx, input);

    await expect(failure).rejects.toMatchObject({ reason: 'cancelled' });
    // FakeRunner records the attempt and refuses it, as SshRunner would.
    expect(runner.commands()).toEqual([DOMSTATE]);
  });
});
