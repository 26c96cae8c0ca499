// -r N: a runner that retries transport failures (never libvirt's own errors) with backoff.
import { runWithRetry } from '../host/retry.js';
import type { CommandResult, HostRunner, RemoteStep } from '../host/runner.js';

export function withRetries(runner: HostRunner, retries: number): HostRunner {
  if (retries <= 0) return runner;
  return {
    run: (host: string, step: RemoteStep): Promise<CommandResult> =>
      runWithRetry(() => runner.run(host, step), {
        retries,
        backoffMs: 500,
        ...(step.signal ? { signal: step.signal } : {}),
      }),
  };
}
