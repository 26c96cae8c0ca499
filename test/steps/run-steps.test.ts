// The step runner: order, fail actions, no_fail, OpenNebula's LOG lines, how TM, DS and VNM scripts
// are found and run, and the message of a failed step. A FakeRunner stands for both the hosts and
// the front-end (its calls on the front-end are labelled "front-end").
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LocalRunner } from '../../src/host/local-runner.js';
import type { ActionContext } from '../../src/actions/context.js';
import { CommandError, TransportError } from '../../src/host/errors.js';
import type { FakeRunner } from '../../src/host/fake-runner.js';
import { runSteps, StepFailure, type StepEnv, type StepTarget } from '../../src/steps/run-steps.js';
import { infoOf, tm, vmm, vnm, ds, type Step } from '../../src/steps/step.js';
import { createTestContext } from '../actions/helpers.js';

const REMOTES = '/srv/one/remotes';
const FILES = new Set([
  `${REMOTES}/tm/shared/context`,
  `${REMOTES}/tm/shared/clone.ssh`,
  `${REMOTES}/tm/ssh/clone`,
  `${REMOTES}/tm/shared/premigrate`,
  `${REMOTES}/datastore/rsync/backup`,
]);

function stepEnv(overrides: Partial<StepEnv> = {}): StepEnv {
  return {
    locations: { remotesDir: REMOTES, scriptsRemoteDir: '/var/tmp/one' },
    localActions: new Set(),
    vnmadLocalActions: new Set(),
    liveDiskSnapshots: new Set(),
    tmTimeoutSeconds: 3600,
    isDirectory: (dir) => [...FILES].some((file) => file.startsWith(`${dir}/`)),
    isFile: (file) => FILES.has(file),
    ...overrides,
  };
}

const TARGET: StepTarget = {
  vmid: '7',
  host: 'node1',
  destination: 'node2',
  vnm: { drivers: ['bridge', 'ovswitch'], xml: '<VM><ID>7</ID></VM>' },
};
const VNM_STDIN = `${Buffer.from('<VM><ID>7</ID></VM>').toString('base64')}\n`;

function setup(vars: Record<string, string> = {}): {
  ctx: ActionContext;
  runner: FakeRunner;
  logs: string[];
} {
  const { ctx, runner } = createTestContext(vars);
  const logs: string[] = [];
  return {
    ctx: { ...ctx, local: runner, log: (severity, text) => logs.push(`${severity} ${text}`) },
    runner,
    logs,
  };
}

// A VMM step that records that it ran and prints `info`.
function action(name: string, ran: string[], info = '', options: Parameters<typeof vmm>[2] = {}): Step {
  return vmm(
    name,
    (_ctx, host, lookup) => {
      ran.push(`${name}@${host}${lookup('deploy') === '' ? '' : ` deploy=${lookup('deploy')}`}`);
      return Promise.resolve(info);
    },
    options,
  );
}

const failing = (
  name: string,
  message: string,
  ran: string[],
  options: Parameters<typeof vmm>[2] = {},
): Step =>
  vmm(
    name,
    (_ctx, host) => {
      ran.push(`${name}@${host}`);
      return Promise.reject(
        new StepFailure(
          vmm(name, () => Promise.resolve('')),
          message,
        ),
      );
    },
    options,
  );

describe('runSteps: order, infos and the reply', () => {
  it("runs the steps in order and returns the main step's info; a later step can use an earlier one's", async () => {
    const { ctx, logs } = setup();
    const ran: string[] = [];

    const info = await runSteps(
      ctx,
      stepEnv(),
      TARGET,
      [
        action('deploy', ran, ' uuid-7\n'),
        action('post', ran),
        action('migrate', ran, '', { where: 'destination' }),
      ],
      'deploy',
    );

    expect(info).toBe('uuid-7');
    expect(ran).toEqual(['deploy@node1', 'post@node1 deploy=uuid-7', 'migrate@node2 deploy=uuid-7']);
    expect(logs.filter((line) => line.startsWith('I '))).toEqual([
      'I Successfully execute virtualization driver operation: deploy.',
      'I Successfully execute virtualization driver operation: post.',
      'I Successfully execute virtualization driver operation: migrate.',
    ]);
    expect(logs.filter((line) => line.startsWith('D '))).toEqual([
      'D deploy on node1, 0.00 s',
      'D post on node1, 0.00 s',
      'D migrate on node2, 0.00 s',
    ]);
  });

  it("replies '-' when the main step printed nothing", async () => {
    const { ctx } = setup();
    expect(await runSteps(ctx, stepEnv(), TARGET, [action('shutdown', [])], 'shutdown')).toBe('-');
  });
});

describe('runSteps: a failed step', () => {
  it("runs its fail actions, logs OpenNebula's line and stops, with the step's own message", async () => {
    const { ctx, logs } = setup();
    const ran: string[] = [];
    const steps = [
      action('pre', ran),
      failing('deploy', 'create domain failed on node1: exit code 1: error: no', ran, {
        failActions: [action('clean', ran), failing('cancel', 'cancel failed too', ran)],
      }),
      action('post', ran),
    ];

    const error = await runSteps(ctx, stepEnv(), TARGET, steps, 'deploy').catch((e: unknown) => e);

    expect(error).toBeInstanceOf(StepFailure);
    expect((error as StepFailure).message).toBe('create domain failed on node1: exit code 1: error: no');
    expect(ran).toEqual(['pre@node1', 'deploy@node1', 'clean@node1', 'cancel@node1']);
    expect(logs.filter((line) => !line.startsWith('D '))).toEqual([
      'I Successfully execute virtualization driver operation: pre.',
      // the fail actions run first, and a failed one never replaces the failure
      'I Successfully execute virtualization driver operation: clean.',
      'E Failed to execute virtualization driver operation: cancel.',
      'E Failed to execute virtualization driver operation: deploy.',
    ]);
  });

  it('goes on after a no_fail step, and the action succeeds', async () => {
    const { ctx, logs } = setup();
    const ran: string[] = [];

    const info = await runSteps(
      ctx,
      stepEnv(),
      TARGET,
      [action('migrate', ran), failing('clean', 'bridge busy', ran, { noFail: true }), action('post', ran)],
      'migrate',
    );

    expect(info).toBe('-');
    expect(ran).toEqual(['migrate@node1', 'clean@node1', 'post@node1']);
    expect(logs).toContain('E Failed to execute virtualization driver operation: clean.');
  });

  it('turns an unexpected exception into one failure that says so', async () => {
    const { ctx } = setup();
    const step = vmm('deploy', () => Promise.reject(new TypeError('x is undefined')));

    await expect(runSteps(ctx, stepEnv(), TARGET, [step], 'deploy')).rejects.toThrow(
      'internal error: x is undefined',
    );
  });

  it('fails a destination step when the payload has no MIGR_HOST', async () => {
    const { ctx } = setup();
    const noDestination: StepTarget = { vmid: TARGET.vmid, host: TARGET.host, vnm: TARGET.vnm };

    await expect(
      runSteps(ctx, stepEnv(), noDestination, [action('pre', [], '', { where: 'destination' })], 'pre'),
    ).rejects.toThrow('pre: the payload has no MIGR_HOST');
  });

  it('runs nothing more, not even fail actions, once the action is aborted', async () => {
    const controller = new AbortController();
    const { ctx } = setup();
    const aborted = { ...ctx, signal: controller.signal };
    const ran: string[] = [];
    const steps = [
      vmm(
        'deploy',
        () => {
          controller.abort(new Error('cancelled'));
          return Promise.reject(new Error('killed'));
        },
        { failActions: [action('clean', ran)] },
      ),
      action('post', ran),
    ];

    await expect(runSteps(aborted, stepEnv(), TARGET, steps, 'deploy')).rejects.toThrow('killed');
    expect(ran).toEqual([]);
  });
});

describe('runSteps: TM and DS steps run on the front-end', () => {
  it('runs <remotes>/tm/<TM_MAD>/<command> with the arguments as argv, the stdin given, TM_TIMEOUT', async () => {
    const { ctx, runner, logs } = setup();
    runner.reply('/tm/shared/premigrate', {
      stdout: 'ok\n',
      stderr: 'INFO: premigrate: nothing to move\nnoise\n',
    });

    await runSteps(
      ctx,
      stepEnv(),
      TARGET,
      [
        tm('tm_premigrate', ['PREMIGRATE', 'shared', 'node1', 'node2', "/a b/'7'", '7', '0'], {
          stdin: 'Vk0=',
        }),
      ],
      'tm_premigrate',
    );

    expect(runner.calls.map((call) => [call.host, call.command, call.step.stdin])).toEqual([
      [
        'front-end',
        `LC_ALL=C timeout --kill-after=5s 3600s ${REMOTES}/tm/shared/premigrate node1 node2 '/a b/'\\''7'\\''' 7 0`,
        'Vk0=',
      ],
    ]);
    expect(runner.calls[0]?.step.argv).toEqual([
      `${REMOTES}/tm/shared/premigrate`,
      'node1',
      'node2',
      "/a b/'7'",
      '7',
      '0',
    ]);
    // log lines of the script go to the VM log; other stderr of a successful script does not
    expect(logs).toEqual([
      'I premigrate: nothing to move',
      'I Successfully execute transfer manager driver operation: tm_premigrate.',
      'D tm_premigrate (shared/premigrate) on the front-end, 0.00 s',
    ]);
  });

  it('falls back from <command>.<ext> to <command>, as OpenNebula does (CLONE.ssh on the ssh TM)', async () => {
    const { ctx, runner } = setup();
    runner.reply(() => true, {});

    await runSteps(
      ctx,
      stepEnv(),
      TARGET,
      [
        tm('tm_attach', 'CLONE.ssh shared vm:/img node1:/ds/7/disk.2 7 1'),
        tm('tm_attach', 'CLONE.ssh ssh vm:/img node1:/ds/7/disk.2 7 1'),
      ],
      'tm_attach',
    );

    expect(runner.calls.map((call) => call.step.argv[0])).toEqual([
      `${REMOTES}/tm/shared/clone.ssh`,
      `${REMOTES}/tm/ssh/clone`,
    ]);
  });

  it.each([
    [
      'an unknown TM_MAD',
      'CONTEXT nfs a b',
      `tm_context: Transfer Driver 'nfs' not available (no ${REMOTES}/tm/nfs)`,
    ],
    ['a path in the TM_MAD', 'CONTEXT ../tm a b', "tm_context: Transfer Driver '../tm' not available"],
    [
      'no script',
      'MKSWAP shared a b',
      `tm_context: Driver path '${REMOTES}/tm/shared/mkswap' does not exist`,
    ],
    [
      'no script with or without its extension',
      'MKSWAP.ssh shared a b',
      `tm_context: Driver path '${REMOTES}/tm/shared/mkswap.ssh' nor '${REMOTES}/tm/shared/mkswap' exists`,
    ],
  ])('fails for %s, running nothing', async (_what, command, message) => {
    const { ctx, runner } = setup();

    const error = await runSteps(ctx, stepEnv(), TARGET, [tm('tm_context', command)], 'x').catch(
      (e: unknown) => e,
    );

    expect((error as Error).message).toContain(message);
    expect(runner.calls).toEqual([]);
  });

  it("fails with the script's own message: its stderr lines, not its log lines, one LOG line each", async () => {
    const { ctx, runner, logs } = setup();
    runner.reply('/tm/shared/context', {
      exitCode: 1,
      stderr:
        'ERROR: context: Command "mkisofs" failed: no such file\nError creating the context image\nsecond line\n',
    });

    const error = await runSteps(
      ctx,
      stepEnv(),
      TARGET,
      [tm('tm_context', 'CONTEXT shared a b 7 0')],
      'x',
    ).catch((e: unknown) => e);

    expect((error as Error).message).toBe(
      'tm_context (shared/context) failed on the front-end (exit code 1): Error creating the context image\nsecond line',
    );
    expect(logs.filter((line) => !line.startsWith('D '))).toEqual([
      'E context: Command "mkisofs" failed: no such file',
      'E Error creating the context image',
      'E second line',
      'E Failed to execute transfer manager driver operation: tm_context.',
    ]);
  });

  it('uses the ERROR lines when the script wrote nothing else, and says when it timed out', async () => {
    const { ctx, runner } = setup();
    const timedOut = new CommandError({
      host: 'front-end',
      step: 'tm_clone (ssh/clone)',
      command: 'clone',
      reason: 'timeout',
      exitCode: null,
      signal: 'SIGTERM',
      stdout: '',
      stderr: '',
      durationMs: 3_600_000,
      timeoutMs: 3_600_000,
    });
    runner
      .reply('/tm/shared/context', { exitCode: 2, stderr: 'ERROR: context: out of space\n' })
      .reply('/tm/ssh/clone', timedOut);
    const failureOf = (steps: Step[]): Promise<unknown> =>
      runSteps(ctx, stepEnv(), TARGET, steps, 'x').catch((e: unknown) => e);

    expect(((await failureOf([tm('tm_context', 'CONTEXT shared a')])) as Error).message).toBe(
      'tm_context (shared/context) failed on the front-end (exit code 2): context: out of space',
    );
    expect(((await failureOf([tm('tm_clone', 'CLONE ssh a b')])) as Error).message).toBe(
      'tm_clone (ssh/clone) timed out on the front-end after 3600 s',
    );
  });

  it('runs a DS step as <remotes>/datastore/<DS_MAD>/<command>', async () => {
    const { ctx, runner } = setup();
    runner.reply(() => true, { stdout: 'backup-id 42\n' });

    const info = await runSteps(
      ctx,
      stepEnv(),
      TARGET,
      [ds('backup', ['BACKUP', 'rsync', 'a', 'b'], { stdin: '<DS_DRIVER_ACTION_DATA/>' })],
      'backup',
    );

    expect(info).toBe('backup-id 42');
    expect(runner.calls[0]?.step.argv).toEqual([`${REMOTES}/datastore/rsync/backup`, 'a', 'b']);
    await expect(
      runSteps(ctx, stepEnv(), TARGET, [ds('backup', ['BACKUP', 'restic'])], 'backup'),
    ).rejects.toThrow("Datastore Driver 'restic' not available");
  });
});

describe('runSteps: a TM script that hangs (a real script, a real LocalRunner)', () => {
  it('is killed at TM_TIMEOUT with every process it started, and the step fails saying so', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'onevmm-remotes-'));
    const marker = `${process.pid}${Date.now() % 100000}`;
    try {
      mkdirSync(join(dir, 'tm/hang'), { recursive: true });
      writeFileSync(join(dir, 'tm/hang/clone'), `#!/bin/sh\nsleep 77.${marker} &\nsleep 78.${marker}\n`, {
        mode: 0o755,
      });
      const { ctx, logs } = setup();
      const local = new LocalRunner({ commandTimeoutSeconds: 60, killAfterSeconds: 1 });
      const env = stepEnv({
        locations: { remotesDir: dir, scriptsRemoteDir: '/var/tmp/one' },
        tmTimeoutSeconds: 0.5,
        isDirectory: (path) => statSync(path, { throwIfNoEntry: false })?.isDirectory() === true,
        isFile: (path) => statSync(path, { throwIfNoEntry: false })?.isFile() === true,
      });

      const error = await runSteps(
        { ...ctx, local },
        env,
        TARGET,
        [tm('tm_clone', 'CLONE hang a b 7 1')],
        'x',
      ).catch((e: unknown) => e);

      expect((error as Error).message).toBe('tm_clone (hang/clone) timed out on the front-end after 0.5 s');
      expect(logs).toContain('E Failed to execute transfer manager driver operation: tm_clone.');
      expect(spawnSync('pgrep', ['-f', marker]).status).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('runSteps: VNM steps run once per network driver, on the host', () => {
  it('runs <SCRIPTS_REMOTE_DIR>/vnm/<VN_MAD>/<action> with the parameters and the VM (base64) on stdin', async () => {
    const { ctx, runner, logs } = setup();
    runner.reply('vnm/bridge/post', {
      stdout: 'b\n',
      stderr: 'INFO: post: Executed "ip link set br0 up".\n',
    });
    runner.reply('vnm/ovswitch/post', { stdout: 'o\n' });

    const info = await runSteps(
      ctx,
      stepEnv(),
      TARGET,
      [action('deploy', [], 'uuid-7'), vnm('post', [infoOf('deploy'), 'node1'])],
      'post',
    );

    expect(runner.calls.map((call) => [call.host, call.command, call.step.stdin])).toEqual([
      ['node1', 'LC_ALL=C timeout --kill-after=5s 60s /var/tmp/one/vnm/bridge/post uuid-7 node1', VNM_STDIN],
      [
        'node1',
        'LC_ALL=C timeout --kill-after=5s 60s /var/tmp/one/vnm/ovswitch/post uuid-7 node1',
        VNM_STDIN,
      ],
    ]);
    expect(info).toBe('bridge: b ovswitch: o');
    expect(logs).toContain('I post: Executed "ip link set br0 up".');
    expect(logs).toContain('D post (bridge) on node1, (ovswitch) on node1, 0.00 s');
  });

  it('stops at the first failing driver', async () => {
    const { ctx, runner } = setup();
    runner.reply('vnm/bridge/pre', { exitCode: 1, stderr: 'Cannot create bridge br0\n' });

    await expect(runSteps(ctx, stepEnv(), TARGET, [vnm('pre')], 'pre')).rejects.toThrow(
      'pre (bridge) failed on node1 (exit code 1): Cannot create bridge br0',
    );
    expect(runner.calls).toHaveLength(1);
  });

  it('runs on the destination, skips drivers, and runs nothing for a VM without network drivers', async () => {
    const { ctx, runner, logs } = setup();
    runner.reply(() => true, {});

    await runSteps(
      ctx,
      stepEnv(),
      TARGET,
      [vnm('pre', [], { where: 'destination' }), vnm('post', ['d', 'node1'], { skip: ['ovswitch'] })],
      'pre',
    );
    await runSteps(
      ctx,
      stepEnv(),
      { ...TARGET, vnm: { drivers: [], xml: '<VM/>' } },
      [vnm('clean', ['node1'])],
      'x',
    );

    expect(runner.calls.map((call) => `${call.host}: ${call.step.argv.join(' ')}`)).toEqual([
      'node2: /var/tmp/one/vnm/bridge/pre',
      'node2: /var/tmp/one/vnm/ovswitch/pre',
      'node1: /var/tmp/one/vnm/bridge/post d node1',
    ]);
    expect(logs).toContain('D clean ran no network driver (no NIC with a VN_MAD), 0.00 s');
    expect(logs).toContain('I Successfully execute network driver operation: clean.');
  });

  it('runs an action on the front-end when -l names it, or VNMAD_LOCAL_ACTIONS names the driver and action', async () => {
    const { ctx, runner } = setup();
    runner.reply(() => true, {});

    await runSteps(
      ctx,
      stepEnv({ localActions: new Set(['CLEAN']), vnmadLocalActions: new Set(['ovswitch-post']) }),
      TARGET,
      [vnm('clean', ['node1']), vnm('post', ['d', 'node1'], { stdin: 'ignored locally' })],
      'x',
    );

    expect(runner.calls.map((call) => [call.host, call.step.argv.join(' '), call.step.stdin])).toEqual([
      ['front-end', `${REMOTES}/vnm/bridge/clean node1`, VNM_STDIN],
      ['front-end', `${REMOTES}/vnm/ovswitch/clean node1`, VNM_STDIN],
      ['node1', '/var/tmp/one/vnm/bridge/post d node1', 'ignored locally'],
      ['front-end', `${REMOTES}/vnm/ovswitch/post d node1`, VNM_STDIN],
    ]);
  });

  it('says `onehost sync` when the host lacks the remote scripts', async () => {
    const { ctx, runner } = setup();
    runner.reply('vnm/bridge/pre', {
      exitCode: 127,
      stderr: "timeout: failed to run command '/var/tmp/one/vnm/bridge/pre': No such file or directory\n",
    });

    await expect(runSteps(ctx, stepEnv(), TARGET, [vnm('pre')], 'pre')).rejects.toThrow(
      "pre (bridge) failed on node1: failed to run command '/var/tmp/one/vnm/bridge/pre': No such file or directory: the host lacks OpenNebula's remote scripts; run `onehost sync --force` on the front-end",
    );
  });

  it('names the step when the host cannot be reached, and says once what is amiss with its settings', async () => {
    const { ctx, runner, logs } = setup();
    runner.reply(
      () => true,
      new TransportError({ host: 'node1', failure: 'connect' }, 'cannot connect to node1'),
    );
    const warnings = ['no SCRIPTS_REMOTE_DIR'];
    const env = stepEnv({ takeWarnings: () => warnings.splice(0) });

    await expect(runSteps(ctx, env, TARGET, [vnm('pre')], 'pre')).rejects.toThrow(
      'pre (bridge): cannot connect to node1',
    );
    await expect(runSteps(ctx, env, TARGET, [vnm('pre')], 'pre')).rejects.toThrow();
    expect(logs.filter((line) => line === 'W no SCRIPTS_REMOTE_DIR')).toHaveLength(1);
  });
});
