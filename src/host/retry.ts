// Retries an operation after transport failures, with exponential backoff and jitter; never after an abort.
import { setTimeout as sleep } from 'node:timers/promises';
import { isRetryable } from './classify.js';

export interface RetryOptions {
  // Extra attempts after the first (the driver's -r, or VIRSH_RETRIES).
  readonly retries: number;
  // Delay before the first retry; doubled for each further one.
  readonly backoffMs: number;
  readonly maxBackoffMs?: number;
  // Aborting stops the retries (and the wait between them).
  readonly signal?: AbortSignal;
  // Default: isRetryable (transport failures only).
  readonly shouldRetry?: (error: unknown) => boolean;
  // Told before each wait, e.g. to log "retrying".
  readonly onRetry?: (info: { error: unknown; attempt: number; delayMs: number }) => void;
  // For tests: returns a number in [0, 1).
  readonly random?: () => number;
}

// Calls fn (with the 0-based attempt number) until it succeeds, fails with a non-retryable error, or the
// retries are used up; the last error is thrown. An abort during the wait rejects with the signal's reason.
export async function runWithRetry<T>(
  fn: (attempt: number) => Promise<T>,
  options: RetryOptions,
): Promise<T> {
  const shouldRetry = options.shouldRetry ?? isRetryable;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (error) {
      if (attempt >= options.retries || options.signal?.aborted || !shouldRetry(error)) throw error;
      const delayMs = backoffDelay(attempt, options);
      options.onRetry?.({ error, attempt, delayMs });
      await sleep(delayMs, undefined, options.signal ? { signal: options.signal } : {}).catch(() => {
        throw options.signal?.reason ?? error;
      });
    }
  }
}

// Equal jitter: half the exponential delay, plus a random part up to the other half.
export function backoffDelay(
  attempt: number,
  options: Pick<RetryOptions, 'backoffMs' | 'maxBackoffMs' | 'random'>,
): number {
  const ceiling = Math.min(options.maxBackoffMs ?? 30_000, options.backoffMs * 2 ** attempt);
  return Math.round(ceiling / 2 + (options.random ?? Math.random)() * (ceiling / 2));
}
