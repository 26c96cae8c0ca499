import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  CANCEL_SCRIPT,
  START_SCRIPT,
  cancelGuestCommand,
  checkedStdin,
  guestCommand,
  guestExecJson,
  startGuestCommand,
  waitGuestCommand,
} from '../../src/actions/guest-exec.js';
import { createTestContext, failure } from './helpers.js';

const AGENT = `virsh --connect qemu:///system qemu-agent-command --timeout 10 -- one-7`;
// libvirt's answer when the guest agent is not running (recorded on the testbed).
const NOT_CONNECTED = 'error: Guest agent is not responding: QEMU guest agent is not connected\n';

describe('guest command words', () => {
  it('splits as a shell would: a quoted argument stays one word', () => {
    expect(guestCommand(`sh -c 'echo a; exit 3' b\\ c "d e"`)).toEqual({
      path: 'sh',
      args: ['-c', 'echo a; exit 3', 'b c', 'd e'],
    });
  });

  it('expands nothing and keeps operators as words', () => {
    expect(guestCommand('echo $HOME ; `id` *')).toEqual({ path: 'echo', args: ['$HOME', ';', '`id`', '*'] });
  });

  it('refuses an empty command and an unclosed quote', () => {
    expect(() => guestCommand('   ')).toThrow('the command is empty');
    expect(() => guestCommand("ls 'x")).toThrow(/cannot be split into words .*: ls 'x/);
  });

  it('takes base64 stdin (blanks dropped), nothing for none, refuses the rest', () => {
    expect(checkedStdin('aGVs\nbG8K')).toBe('aGVsbG8K');
    expect(checkedStdin('')).toBeUndefined();
    expect(checkedStdin(undefined)).toBeUndefined();
    expect(() => checkedStdin('hello world')).toThrow("the command's stdin is not base64");
    expect(() => checkedStdin('aGVsbG8')).toThrow('not base64');
  });

  it('builds the agent command with a serializer', () => {
    expect(guestExecJson({ path: 'sh', args: ['-c', `say "hi" \\ '`] }, 'aGk=')).toBe(
      '{"execute":"guest-exec","arguments":{"path":"sh","arg":["-c","say \\"hi\\" \\\\ \'"],"capture-output":true,"input-data":"aGk="}}',
    );
  });
});

describe('EXEC', () => {
  it('runs guest-exec under the lock, writes the pid file and resolves to the pid', async () => {
    const { ctx, runner } = createTestContext();
    runner.reply('qemu-agent-command', { stdout: '{"return":{"pid":133}}\n' });

    const pid = await startGuestCommand(ctx, {
      host: 'node1',
      domain: 'one-7',
      vmid: '7',
      command: 'cat /proc/version',
      stdin: 'aGVsbG8K',
    });

    expect(pid).toBe(133);
    expect(runner.calls).toHaveLength(1);
    const call = runner.calls[0];
    expect(call?.step.argv).toEqual([
      'sh',
      '-c',
      START_SCRIPT,
      'sh',
      '/var/run/one',
      '7',
      ...AGENT.split(' '),
      '{"execute":"guest-exec","arguments":{"path":"cat","arg":["/proc/version"],"capture-output":true,"input-data":"aGVsbG8K"}}',
    ]);
    // never repeated on a transport failure: the command would run twice in the guest
    expect(call?.step.retry).toBe(false);
  });

  it("fails with libvirt's message when the agent is down", async () => {
    const { ctx, runner } = createTestContext();
    runner.reply('qemu-agent-command', { exitCode: 1, stderr: NOT_CONNECTED });

    const error = await failure(
      startGuestCommand(ctx, { host: 'node1', domain: 'one-7', vmid: '7', command: 'ls' }),
    );

    expect(error.message).toContain('node1');
    expect(error.message).toContain('guest-exec');
    expect(error.message).toContain('QEMU guest agent is not connected');
  });

  it('runs nothing for a bad command or stdin', async () => {
    const { ctx, runner } = createTestContext();
    await failure(startGuestCommand(ctx, { host: 'node1', domain: 'one-7', vmid: '7', command: '' }));
    await failure(
      startGuestCommand(ctx, { host: 'node1', domain: 'one-7', vmid: '7', command: 'ls', stdin: 'x y' }),
    );
    expect(runner.calls).toEqual([]);
  });

  it('without a pid file (--wait): guest-exec alone, then guest-exec-status until it ended', async () => {
    const { ctx, runner, clock } = createTestContext();
    runner.reply('"guest-exec"', { stdout: '{"return":{"pid":9}}\n' });
    runner.reply(
      'guest-exec-status',
      { stdout: '{"return":{"exited":false}}\n' },
      {
        stdout:
          '{"return":{"exitcode":3,"out-data":"aGVsbG8Kb3V0Cg==","err-data":"ZXJyCg==","exited":true}}\n',
      },
    );

    const pid = await startGuestCommand(ctx, {
      host: 'node1',
      domain: 'one-7',
      vmid: '7',
      command: 'sh -c x',
      pidFile: false,
    });
    const result = await waitGuestCommand(ctx, 'node1', 'one-7', pid);

    expect(runner.commands()).toEqual([
      `LC_ALL=C timeout --kill-after=5s 60s ${AGENT} '{"execute":"guest-exec","arguments":{"path":"sh","arg":["-c","x"],"capture-output":true}}'`,
      `LC_ALL=C timeout --kill-after=5s 60s ${AGENT} '{"execute":"guest-exec-status","arguments":{"pid":9}}'`,
      `LC_ALL=C timeout --kill-after=5s 60s ${AGENT} '{"execute":"guest-exec-status","arguments":{"pid":9}}'`,
    ]);
    expect(clock.sleeps).toEqual([200]);
    expect(result).toMatchObject({ pid: 9, exitCode: 3, signal: null, truncated: false });
    expect(result.stdout.toString()).toBe('hello\nout\n');
    expect(result.stderr.toString()).toBe('err\n');
  });

  it('a wait that is aborted kills the command in the guest', async () => {
    const controller = new AbortController();
    const { ctx, runner } = createTestContext({}, { signal: controller.signal });
    runner.reply('guest-exec-status', () => {
      controller.abort(new Error('interrupted'));
      return { stdout: '{"return":{"exited":false}}\n' };
    });
    runner.reply('"kill"', { stdout: '{"return":{"pid":10}}\n' });

    await expect(waitGuestCommand(ctx, 'node1', 'one-7', 9)).rejects.toThrow('interrupted');

    expect(runner.commands().at(-1)).toContain(
      `'{"execute":"guest-exec","arguments":{"path":"kill","arg":["-9","9"],"capture-output":false}}'`,
    );
  });
});

describe('EXEC_CANCEL', () => {
  it('runs the cancel script with the VM id, URI and domain; resolves to the pid it killed', async () => {
    const { ctx, runner } = createTestContext();
    runner.reply('.exec-lock', { stdout: '133\n' });

    expect(await cancelGuestCommand(ctx, { host: 'node1', domain: 'one-7', vmid: '7' })).toBe(133);
    expect(runner.calls[0]?.step.argv).toEqual([
      'sh',
      '-c',
      CANCEL_SCRIPT,
      'sh',
      '/var/run/one',
      '7',
      'qemu:///system',
      'one-7',
      '10',
    ]);
  });

  it('nothing to cancel is a success', async () => {
    const { ctx, runner } = createTestContext();
    runner.reply('.exec-lock', { stdout: '' });
    expect(await cancelGuestCommand(ctx, { host: 'node1', domain: 'one-7', vmid: '7' })).toBeUndefined();
  });
});

// The two scripts in a real shell: a `virsh` of our own on PATH answers for the agent.
describe('the host scripts, in sh', () => {
  function sandbox(virshBody: string): { dir: string; env: NodeJS.ProcessEnv; log: string } {
    const dir = mkdtempSync(path.join(tmpdir(), 'onevmm-exec-'));
    const bin = path.join(dir, 'bin');
    execFileSync('mkdir', ['-p', bin]);
    const log = path.join(dir, 'virsh.log');
    writeFileSync(
      path.join(bin, 'virsh'),
      `#!/bin/sh\nfor a in "$@"; do printf '%s\\n' "$a"; done >>'${log}'\n${virshBody}\n`,
    );
    chmodSync(path.join(bin, 'virsh'), 0o755);
    return { dir, env: { ...process.env, PATH: `${bin}:${process.env['PATH'] ?? ''}` }, log };
  }

  it('start: writes the pid without a newline and prints the answer', () => {
    const box = sandbox(`echo '{"return": {"pid": 42}}'`);
    const run = path.join(box.dir, 'run');
    const out = spawnSync('sh', ['-c', START_SCRIPT, 'sh', run, '7', 'virsh', 'qemu-agent-command', 'x'], {
      env: box.env,
      encoding: 'utf8',
    });
    expect(out.status).toBe(0);
    expect(out.stdout).toBe('{"return": {"pid": 42}}\n');
    expect(readFileSync(path.join(run, 'one-7'), 'utf8')).toBe('42');
    expect(existsSync(path.join(run, '.exec-lock'))).toBe(true);
  });

  it("start: virsh's failure is the script's, and no pid file is left", () => {
    const box = sandbox(`printf '%s' '${NOT_CONNECTED.trim()}' >&2; exit 1`);
    const run = path.join(box.dir, 'run');
    const out = spawnSync('sh', ['-c', START_SCRIPT, 'sh', run, '7', 'virsh', 'qemu-agent-command'], {
      env: box.env,
      encoding: 'utf8',
    });
    expect(out.status).toBe(1);
    expect(out.stderr).toContain('QEMU guest agent is not connected');
    expect(existsSync(path.join(run, 'one-7'))).toBe(false);
  });

  it('start: an answer without a pid is an error', () => {
    const box = sandbox(`echo '{"return": {}}'`);
    const run = path.join(box.dir, 'run');
    const out = spawnSync('sh', ['-c', START_SCRIPT, 'sh', run, '7', 'virsh'], {
      env: box.env,
      encoding: 'utf8',
    });
    expect(out.status).toBe(1);
    expect(out.stderr).toBe('guest-exec answered without a pid: {"return": {}}\n');
    expect(existsSync(path.join(run, 'one-7'))).toBe(false);
  });

  it('cancel: kill -9 of the pid through the agent, then the file goes', () => {
    const box = sandbox(`echo '{"return": {"pid": 43}}'`);
    const run = path.join(box.dir, 'run');
    execFileSync('mkdir', ['-p', run]);
    writeFileSync(path.join(run, 'one-7'), '42');
    const out = spawnSync('sh', ['-c', CANCEL_SCRIPT, 'sh', run, '7', 'qemu:///system', 'one-7', '10'], {
      env: box.env,
      encoding: 'utf8',
    });
    expect(out.status).toBe(0);
    expect(out.stdout).toBe('42\n');
    expect(existsSync(path.join(run, 'one-7'))).toBe(false);
    expect(readFileSync(box.log, 'utf8').split('\n')).toEqual([
      '--connect',
      'qemu:///system',
      'qemu-agent-command',
      '--timeout',
      '10',
      '--',
      'one-7',
      '{"execute":"guest-exec","arguments":{"path":"kill","arg":["-9","42"]}}',
      '',
    ]);
  });

  it('cancel: no folder, no file or an empty file is nothing to do; a file without a pid is an error', () => {
    const box = sandbox('exit 1');
    const run = path.join(box.dir, 'run');
    const cancel = (): ReturnType<typeof spawnSync> =>
      spawnSync('sh', ['-c', CANCEL_SCRIPT, 'sh', run, '7', 'qemu:///system', 'one-7', '10'], {
        env: box.env,
        encoding: 'utf8',
      });
    expect(cancel()).toMatchObject({ status: 0, stdout: '' });
    execFileSync('mkdir', ['-p', run]);
    expect(cancel()).toMatchObject({ status: 0, stdout: '' });
    writeFileSync(path.join(run, 'one-7'), '');
    expect(cancel()).toMatchObject({ status: 0, stdout: '' });
    writeFileSync(path.join(run, 'one-7'), '4$(id)');
    const bad = cancel();
    expect(bad.status).toBe(1);
    expect(String(bad.stderr)).toContain('holds no pid: 4$(id)');
    expect(existsSync(box.log)).toBe(false);
  });
});
