// What every action is given: a runner for host commands, the settings, a logger and a way to wait.
import type { KvmConfig } from '../config/kvm-config.js';
import type { HostRunner, RemoteStep } from '../host/runner.js';

export type LogSeverity = 'I' | 'W' | 'E' | 'D';

export interface ActionContext {
  readonly runner: HostRunner;
  // Commands on this machine (migrate_local's virsh); absent where nothing may run locally.
  readonly local?: HostRunner;
  readonly config: KvmConfig;
  // Progress and warnings (LOG lines in the driver, stderr in the CLI).
  readonly log: (severity: LogSeverity, message: string) => void;
  // Aborts the action (DRIVER_CANCEL, Ctrl-C): running commands are killed.
  readonly signal?: AbortSignal;
  // Injected so tests run without real time.
  readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly now: () => number;
}

// `virsh --connect <LIBVIRT_URI> <args…>` as a step (LC_ALL=C and the time limits come from the runner).
export function virsh(
  ctx: ActionContext,
  step: string,
  args: readonly string[],
  extra: Partial<RemoteStep> = {},
): RemoteStep {
  return { step, argv: ['virsh', '--connect', ctx.config.libvirtUri, ...args], signal: ctx.signal, ...extra };
}

// A sleep that ends early (rejecting) when the signal aborts.
export function sleepFor(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
