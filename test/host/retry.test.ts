import { describe, expect, it } from 'vitest';
import { CommandError, TransportError } from '../../src/host/errors.js';
import { backoffDelay, runWithRetry } from '../../src/host/retry.js';

const transport = (): TransportError => new TransportError({ host: 'h', failure: 'lost' }, 'connection lost');
const notFound = (): CommandError =>
  new CommandError({
    host: 'h',
    step: 's',
    command: 'c',
    reason: 'exit',
    exitCode: 1,
    signal: null,
    stdout: '',
    stderr: "error: failed to get domain 'x'",
    durationMs: 1,
  });

// fn that throws the given errors in turn, then returns 'ok'.
function failing(...errors: Error[]): { fn: (attempt: number) => Promise<string>; attempts: number[] } {
  const attempts: number[] = [];
  return {
    attempts,
    fn: (attempt) => {
      attempts.push(attempt);
      const error = errors.shift();
      return error ? Promise.reject(error) : Promise.resolve('ok');
    },
  };
}

describe('runWithRetry', () => {
  it('retries transport failures with growing delays until success', async () => {
    const { fn, attempts } = failing(transport(), transport());
    const delays: number[] = [];
    const result = await runWithRetry(fn, {
      retries: 3,
      backoffMs: 4,
      random: () => 0,
      onRetry: ({ delayMs }) => delays.push(delayMs),
    });
    expect(result).toBe('ok');
    expect(attempts).toEqual([0, 1, 2]);
    expect(delays).toEqual([2, 4]);
  });

  it('does not retry other failures', async () => {
    const error = notFound();
    const { fn, attempts } = failing(error);
    await expect(runWithRetry(fn, { retries: 5, backoffMs: 1 })).rejects.toBe(error);
    expect(attempts).toEqual([0]);
  });

  it('throws the last error once the retries are used up', async () => {
    const last = transport();
    const { fn, attempts } = failing(transport(), transport(), last);
    await expect(runWithRetry(fn, { retries: 2, backoffMs: 1 })).rejects.toBe(last);
    expect(attempts).toEqual([0, 1, 2]);
    const once = failing(transport());
    await expect(runWithRetry(once.fn, { retries: 0, backoffMs: 1 })).rejects.toBeInstanceOf(TransportError);
  });

  it('stops at once when aborted, during the wait or before it', async () => {
    const controller = new AbortController();
    const { fn, attempts } = failing(transport(), transport());
    const pending = runWithRetry(fn, { retries: 5, backoffMs: 60_000, signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    expect(attempts).toEqual([0]);

    const error = transport();
    const aborted = failing(error);
    await expect(
      runWithRetry(aborted.fn, { retries: 5, backoffMs: 1, signal: AbortSignal.abort() }),
    ).rejects.toBe(error);
    expect(aborted.attempts).toEqual([0]);
  });

  it('accepts another retry rule', async () => {
    const { fn, attempts } = failing(notFound());
    await expect(runWithRetry(fn, { retries: 1, backoffMs: 1, shouldRetry: () => true })).resolves.toBe('ok');
    expect(attempts).toEqual([0, 1]);
  });
});

describe('backoffDelay', () => {
  it('doubles per attempt, with jitter in the upper half, capped', () => {
    expect([0, 1, 2, 3].map((n) => backoffDelay(n, { backoffMs: 100, random: () => 0 }))).toEqual([
      50, 100, 200, 400,
    ]);
    expect([0, 1, 2].map((n) => backoffDelay(n, { backoffMs: 100, random: () => 0.999999 }))).toEqual([
      100, 200, 400,
    ]);
    expect(backoffDelay(10, { backoffMs: 100, maxBackoffMs: 1000, random: () => 0 })).toBe(500);
  });
});
