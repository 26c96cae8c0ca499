import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { buildRemoteCommand, buildStepCommand } from '../../src/host/remote-command.js';
import { OnevmmError } from '../../src/util/errors.js';

const VIRSH = ['virsh', '--connect', 'qemu:///system'];

describe('buildRemoteCommand', () => {
  it('prefixes LC_ALL=C and timeout --kill-after, and quotes every word', () => {
    expect(buildRemoteCommand({ argv: [...VIRSH, 'dominfo', 'one-7'], timeoutSeconds: 60 })).toBe(
      'LC_ALL=C timeout --kill-after=5s 60s virsh --connect qemu:///system dominfo one-7',
    );
    expect(
      buildRemoteCommand({
        argv: [...VIRSH, 'create', '/dev/stdin'],
        timeoutSeconds: 120,
        killAfterSeconds: 2,
      }),
    ).toBe('LC_ALL=C timeout --kill-after=2s 120s virsh --connect qemu:///system create /dev/stdin');
  });

  it('quotes hostile values so they stay single words', () => {
    expect(
      buildRemoteCommand({ argv: ['virsh', 'dominfo', "one-7'; rm -rf / #", '$(id)'], timeoutSeconds: 10 }),
    ).toBe("LC_ALL=C timeout --kill-after=5s 10s virsh dominfo 'one-7'\\''; rm -rf / #' '$(id)'");
  });

  it('sets extra variables after LC_ALL, values quoted, and lets env replace LC_ALL', () => {
    expect(
      buildRemoteCommand({
        argv: ['env'],
        timeoutSeconds: 5,
        env: { LIBVIRT_DEFAULT_URI: 'qemu:///system', X: 'a b' },
      }),
    ).toBe("LC_ALL=C LIBVIRT_DEFAULT_URI=qemu:///system X='a b' timeout --kill-after=5s 5s env");
    expect(buildRemoteCommand({ argv: ['locale'], timeoutSeconds: 5, env: { LC_ALL: 'C.UTF-8' } })).toBe(
      'LC_ALL=C.UTF-8 timeout --kill-after=5s 5s locale',
    );
  });

  it('formats fractional seconds as timeout(1) reads them', () => {
    expect(buildRemoteCommand({ argv: ['true'], timeoutSeconds: 0.5, killAfterSeconds: 1.25 })).toBe(
      'LC_ALL=C timeout --kill-after=1.25s 0.5s true',
    );
  });

  it.each([
    [{ argv: [], timeoutSeconds: 5 }, /at least one word/],
    [{ argv: ['true'], timeoutSeconds: 0 }, /timeoutSeconds must be/],
    [{ argv: ['true'], timeoutSeconds: Number.NaN }, /timeoutSeconds must be/],
    [{ argv: ['true'], timeoutSeconds: 0.0001 }, /timeoutSeconds must be/],
    [{ argv: ['true'], timeoutSeconds: 5, killAfterSeconds: -1 }, /killAfterSeconds must be/],
    [{ argv: ['true'], timeoutSeconds: 5, env: { 'A B': 'x' } }, /invalid environment variable name "A B"/],
    [{ argv: ['true'], timeoutSeconds: 5, env: { '1A': 'x' } }, /invalid environment variable name/],
    [{ argv: ['true'], timeoutSeconds: 5, env: { 'A;id': 'x' } }, /invalid environment variable name/],
    [{ argv: ['a\0b'], timeoutSeconds: 5 }, /NUL/],
  ])('rejects %j', (spec, message) => {
    expect(() => buildRemoteCommand(spec)).toThrow(OnevmmError);
    expect(() => buildRemoteCommand(spec)).toThrow(message);
  });

  it('runs in a real shell with the environment and arguments intended', () => {
    const line = buildRemoteCommand({
      argv: ['sh', '-c', 'printf "%s|%s|%s" "$LC_ALL" "$X" "$1"', 'sh', "it's $(here)"],
      timeoutSeconds: 5,
      env: { X: 'a "b" c' },
    });
    const out = spawnSync('sh', ['-c', line], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(out.stdout).toBe(`C|a "b" c|it's $(here)`);
  });

  it('is bounded on the host: timeout kills a command that runs too long (exit 124)', () => {
    const line = buildRemoteCommand({ argv: ['sleep', '5'], timeoutSeconds: 0.2, killAfterSeconds: 1 });
    const out = spawnSync('sh', ['-c', line], { stdio: 'ignore' });
    expect(out.status).toBe(124);
  });
});

describe('buildStepCommand', () => {
  it('uses the step timeout, else the default (COMMAND_TIMEOUT)', () => {
    const step = { step: 'info', argv: ['virsh', 'dominfo', 'one-1'] };
    expect(buildStepCommand(step, { timeoutSeconds: 60 })).toBe(
      'LC_ALL=C timeout --kill-after=5s 60s virsh dominfo one-1',
    );
    expect(
      buildStepCommand(
        { ...step, timeoutSeconds: 7, env: { A: '1' } },
        { timeoutSeconds: 60, killAfterSeconds: 3 },
      ),
    ).toBe('LC_ALL=C A=1 timeout --kill-after=3s 7s virsh dominfo one-1');
  });
});
