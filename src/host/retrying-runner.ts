// A runner that retries transport failures (never libvirt's own errors) with backoff: the driver's
// -r N, VIRSH_RETRIES for the executables. A host that cannot be connected to at all is not
// retried: SSH_CONNECT_TIMEOUT already bounds that wait, and callers rely on the bound.
import { isRetryable } from './classify.js';
import { TransportError } from './errors.js';
import { runWithRetry } from './retry.js';
import type { CommandResult, HostRunner, RemoteStep } from './runner.js';

function shouldRetry(error: unknown): boolean {
  if (error instanceof TransportError && ['connect', 'host-key', 'auth'].includes(error.failure))
    return false;
  return isRetryable(error);
}

export function withRetries(runner: HostRunner, retries: number, backoffMs = 500): HostRunner {
  if (retries <= 0) return runner;
  return {
    run: (host: string, step: RemoteStep): Promise<CommandResult> =>
      step.retry === false
        ? runner.run(host, step)
        : runWithRetry(() => runner.run(host, step), {
            retries,
            backoffMs,
            shouldRetry,
            ...(step.signal ? { signal: step.signal } : {}),
          }),
  };
}
