import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { CommandError } from '../../src/host/errors.js';
import { LocalRunner } from '../../src/host/local-runner.js';

const runner = new LocalRunner({ commandTimeoutSeconds: 10, killAfterSeconds: 1 });

function processesWith(marker: string): string[] {
  try {
    return execFileSync('pgrep', ['-f', marker], { encoding: 'utf8' }).trim().split('\n');
  } catch {
    return [];
  }
}

async function failure(promise: Promise<unknown>): Promise<CommandError> {
  const error = await promise.catch((e: unknown) => e);
  expect(error).toBeInstanceOf(CommandError);
  return error as CommandError;
}

describe('LocalRunner', () => {
  it('runs argv without a shell, with LC_ALL=C, and returns the output', async () => {
    const result = await runner.run('front-end', {
      step: 'echo',
      argv: ['sh', '-c', 'printf "%s|%s|%s" "$LC_ALL" "$X" "$1"', 'sh', '$(not run) *'],
      env: { X: 'y' },
    });
    expect(result).toMatchObject({
      host: 'front-end',
      step: 'echo',
      exitCode: 0,
      signal: null,
      stdout: 'C|y|$(not run) *',
    });
    expect(result.command).toBe(
      `LC_ALL=C X=y sh -c 'printf "%s|%s|%s" "$LC_ALL" "$X" "$1"' sh '$(not run) *'`,
    );
  });

  it('feeds stdin', async () => {
    expect((await runner.run('fe', { step: 'cat', argv: ['cat'], stdin: 'domain xml' })).stdout).toBe(
      'domain xml',
    );
    expect((await runner.run('fe', { step: 'wc', argv: ['wc', '-c'] })).stdout.trim()).toBe('0');
  });

  it('throws CommandError with stderr on a non-zero exit', async () => {
    const error = await failure(
      runner.run('fe', { step: 'fail', argv: ['sh', '-c', 'echo "error: nope" >&2; exit 4'] }),
    );
    expect(error).toMatchObject({ reason: 'exit', exitCode: 4, stderr: 'error: nope\n' });
    expect(error.message).toBe('fail failed on fe: exit code 4: error: nope');
  });

  it('kills a command that passes its timeout', async () => {
    const marker = `33.${process.pid}4`;
    const error = await failure(
      runner.run('fe', { step: 'slow', argv: ['sleep', marker], timeoutSeconds: 0.3 }),
    );
    expect(error).toMatchObject({ reason: 'timeout', timeoutMs: 300 });
    expect(error.message).toBe('slow timed out on fe after 0.3 s');
    expect(processesWith(`sleep ${marker}`)).toEqual([]);
  });

  it('kills the whole process group, children and grandchildren, on a timeout or an abort', async () => {
    const marker = `44.${process.pid}`;
    const script = `sleep ${marker}1 & (sleep ${marker}2 &) ; sleep ${marker}3`;
    const timedOut = await failure(
      runner.run('fe', { step: 'tm', argv: ['sh', '-c', script], timeoutSeconds: 0.3 }),
    );
    expect(timedOut.reason).toBe('timeout');
    expect(processesWith(`sleep ${marker}`)).toEqual([]);

    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    const aborted = await failure(
      runner.run('fe', { step: 'tm', argv: ['sh', '-c', script], signal: controller.signal }),
    );
    expect(aborted.reason).toBe('cancelled');
    expect(processesWith(`sleep ${marker}`)).toEqual([]);
  });

  it('kills a command when the signal aborts', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const error = await failure(
      runner.run('fe', { step: 'slow', argv: ['sleep', '5'], signal: controller.signal }),
    );
    expect(error).toMatchObject({ reason: 'cancelled', message: 'slow cancelled on fe' });
  });

  it('reports a program that cannot be started', async () => {
    const error = await failure(runner.run('fe', { step: 'missing', argv: ['/nonexistent/virsh', 'list'] }));
    expect(error.reason).toBe('local');
    expect(error.message).toMatch(/^missing failed on fe: .*ENOENT/);
  });

  it('caps the output', async () => {
    const small = new LocalRunner({ commandTimeoutSeconds: 10, maxOutputBytes: 1000 });
    const error = await failure(
      small.run('fe', { step: 'big', argv: ['head', '-c', '100000', '/dev/zero'] }),
    );
    expect(error.reason).toBe('output-limit');
    expect(error.message).toBe('big failed on fe: stdout exceeded 1000 bytes');
  });
});
