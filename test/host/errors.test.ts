import { describe, expect, it } from 'vitest';
import {
  CommandError,
  TransportError,
  describeHost,
  requireSuccess,
  summarizeStderr,
} from '../../src/host/errors.js';
import type { CommandErrorDetails } from '../../src/host/errors.js';
import { OnevmmError } from '../../src/util/errors.js';

const BASE: CommandErrorDetails = {
  host: 'tb-h1',
  step: 'shutdown one-7',
  command: 'LC_ALL=C timeout --kill-after=5s 60s virsh --connect qemu:///system shutdown one-7',
  reason: 'exit',
  exitCode: 1,
  signal: null,
  stdout: '',
  stderr:
    "error: Failed to shutdown domain 'one-7'\nerror: Requested operation is not valid: domain is not running\n",
  durationMs: 42,
};

describe('CommandError', () => {
  it('says what failed, where, how, and what libvirt said', () => {
    const error = new CommandError({ ...BASE, cause: new Error('inner') });
    expect(error.message).toBe(
      "shutdown one-7 failed on tb-h1: exit code 1: error: Failed to shutdown domain 'one-7'; " +
        'error: Requested operation is not valid: domain is not running',
    );
    expect(error).toBeInstanceOf(OnevmmError);
    expect(error).toMatchObject({
      name: 'CommandError',
      hostCode: 'COMMAND',
      host: 'tb-h1',
      exitCode: 1,
      durationMs: 42,
    });
    expect(error.command).toBe(BASE.command);
    expect((error.cause as Error).message).toBe('inner');
  });

  it('formats signals, timeouts, cancellation, output limits and local failures', () => {
    const message = (details: Partial<CommandErrorDetails>): string =>
      new CommandError({ ...BASE, ...details }).message;
    expect(message({ reason: 'signal', exitCode: null, signal: 'SIGKILL', stderr: '' })).toBe(
      'shutdown one-7 failed on tb-h1: killed by SIGKILL',
    );
    expect(message({ reason: 'exit', stderr: '' })).toBe('shutdown one-7 failed on tb-h1: exit code 1');
    expect(message({ reason: 'timeout', timeoutMs: 60_000 })).toBe(
      'shutdown one-7 timed out on tb-h1 after 60 s',
    );
    expect(message({ reason: 'timeout', timeoutMs: 1500 })).toBe(
      'shutdown one-7 timed out on tb-h1 after 1.5 s',
    );
    expect(message({ reason: 'cancelled' })).toBe('shutdown one-7 cancelled on tb-h1');
    expect(message({ reason: 'output-limit', limit: { stream: 'stderr', bytes: 16 * 1024 * 1024 } })).toBe(
      'shutdown one-7 failed on tb-h1: stderr exceeded 16 MiB',
    );
    expect(message({ reason: 'local', cause: new Error('spawn virsh ENOENT') })).toBe(
      'shutdown one-7 failed on tb-h1: spawn virsh ENOENT',
    );
    expect(new CommandError({ ...BASE, reason: 'timeout' }).hostCode).toBe('TIMEOUT');
    expect(new CommandError({ ...BASE, reason: 'cancelled' }).hostCode).toBe('CANCELLED');
  });
});

describe('summarizeStderr', () => {
  it('takes virsh error lines (at most three), even after noise, else the first line', () => {
    expect(summarizeStderr('')).toBe('');
    expect(summarizeStderr('\n  plain message\nsecond\n')).toBe('plain message');
    expect(summarizeStderr('noise from .bashrc\nerror: one\nerror: two\nerror: three\nerror: four\n')).toBe(
      'error: one; error: two; error: three',
    );
    expect(summarizeStderr('error: one\nnot an error line\nerror: two')).toBe('error: one');
  });
});

describe('TransportError', () => {
  it('carries host, target and what failed', () => {
    const error = new TransportError(
      { host: 'tb-h1', target: '10.77.0.11', failure: 'connect', step: 'poll' },
      'msg',
    );
    expect(error).toMatchObject({
      name: 'TransportError',
      hostCode: 'TRANSPORT',
      host: 'tb-h1',
      target: '10.77.0.11',
    });
    expect(error).toMatchObject({ failure: 'connect', step: 'poll', message: 'msg' });
  });

  it('describes a host with its address when they differ', () => {
    expect(describeHost('tb-h1', '10.77.0.11')).toBe('tb-h1 (10.77.0.11)');
    expect(describeHost('tb-h1', 'tb-h1')).toBe('tb-h1');
    expect(describeHost('tb-h1')).toBe('tb-h1');
  });
});

describe('requireSuccess', () => {
  const result = {
    host: 'h',
    step: 's',
    command: 'c',
    exitCode: 0,
    signal: null,
    stdout: 'x',
    stderr: '',
    durationMs: 1,
  };
  it('passes exit code 0 through and throws CommandError otherwise', () => {
    expect(requireSuccess(result)).toBe(result);
    expect(() => requireSuccess({ ...result, exitCode: 2, stderr: 'error: bad' })).toThrow(
      's failed on h: exit code 2: error: bad',
    );
    expect(() => requireSuccess({ ...result, exitCode: null, signal: 'SIGTERM' })).toThrow(
      expect.objectContaining({ reason: 'signal', signal: 'SIGTERM' }),
    );
  });
});
