// The protocol driver: reads request lines, schedules actions, writes exactly one reply per
// request that carries a VM id. Nothing here prints except through `write`.
import { sleepFor, type ActionContext } from '../actions/context.js';
import type { KvmConfig } from '../config/kvm-config.js';
import type { HostRunner } from '../host/runner.js';
import { DEFAULT_MAX_CHANNELS } from '../host/ssh-options.js';
import { describeFailure, OnevmmError } from '../util/errors.js';
import type { DriverOptions } from './arguments.js';
import { prepareAction, type HandlerEnv } from '../steps/prepare.js';
import { formatLog, formatResult, parseRequest } from './protocol.js';
import { Scheduler } from './scheduler.js';

export interface DriverDeps {
  readonly options: DriverOptions;
  readonly config: KvmConfig;
  readonly runner: HostRunner;
  // Commands on this machine (migrate_local).
  readonly local?: HostRunner;
  readonly env: HandlerEnv;
  // Writes one whole line (the newline is added).
  readonly write: (line: string) => void;
}

export class Driver {
  private readonly deps: DriverDeps;
  private readonly scheduler: Scheduler;
  private finalizing = false;

  constructor(deps: DriverDeps) {
    this.deps = deps;
    // Per host: at most SSH_MAX_CHANNELS jobs (more would only queue on the connection), and never
    // every slot, so that one dead host cannot delay the others.
    const maxChannels = Number(deps.config.vars['SSH_MAX_CHANNELS'] ?? '') || DEFAULT_MAX_CHANNELS;
    const perHost = Math.max(1, Math.min(maxChannels, deps.options.concurrency - 1));
    this.scheduler = new Scheduler(deps.options.concurrency, deps.options.parallelPerHost, perHost);
  }

  get load(): { readonly running: number; readonly queued: number } {
    return this.scheduler.size;
  }

  // Handles one input line; returns 'finalize' when the driver should finish and exit.
  handleLine(line: string): 'continue' | 'finalize' {
    const request = parseRequest(line);
    switch (request.kind) {
      case 'init':
        this.deps.write('INIT SUCCESS - -');
        return 'continue';
      case 'finalize':
        this.finalizing = true;
        return 'finalize';
      case 'bad':
        if (request.vmid !== undefined && request.action !== undefined) {
          this.reply(request.action, false, request.vmid, request.reason);
        } else if (line.trim() !== '') {
          this.deps.write(formatLog('E', '-1', `ignored a line that is not a request: ${request.reason}`));
        }
        return 'continue';
      case 'action':
        if (this.finalizing) {
          this.reply(request.action, false, request.vmid, 'the driver is finalizing');
        } else if (request.action === 'DRIVER_CANCEL') {
          this.cancel(request.vmid);
        } else {
          this.submit(request.action, request.vmid, request.payload);
        }
        return 'continue';
    }
  }

  // Resolves when every running and queued action has replied.
  async finish(): Promise<void> {
    await this.scheduler.idle();
  }

  private reply(action: string, ok: boolean, vmid: string, info: string): void {
    this.deps.write(formatResult(action, ok, vmid, info));
  }

  private cancel(vmid: string): void {
    const { aborted, dropped } = this.scheduler.cancel(vmid, new OnevmmError('CANCELLED', 'cancelled'));
    // DRIVER_CANCEL's own acknowledgement is a LOG line (oned expects no result line for it).
    this.deps.write(
      formatLog('I', vmid, `Driver command for ${vmid} cancelled (${aborted} running, ${dropped} queued)`),
    );
  }

  private submit(action: string, vmid: string, payload: string): void {
    let prepared;
    try {
      prepared = prepareAction(action, vmid, payload, this.deps.env);
    } catch (error) {
      this.reply(action, false, vmid, describeFailure(error));
      return;
    }
    const { host } = prepared;
    const requestedAt = Date.now();
    // UPDATESG and UPDATENIC replies start with their id, whatever the outcome.
    const reply = (ok: boolean, info: string): void =>
      this.reply(action, ok, vmid, prepared.prefix === undefined ? info : `${prepared.prefix} ${info}`);
    this.scheduler.submit({
      vmid,
      host,
      ...(prepared.alongside === true ? { alongside: true } : {}),
      dropped: () => reply(false, 'cancelled'),
      run: async (cancelSignal) => {
        const limit = this.deps.options.timeoutSeconds;
        const signal =
          limit === undefined
            ? cancelSignal
            : AbortSignal.any([cancelSignal, AbortSignal.timeout(limit * 1000)]);
        // Every step carries when the request arrived: a host that failed to connect since then
        // fails this action at once (see RemoteStep.requestedAt).
        const runner = this.deps.runner;
        const ctx: ActionContext = {
          runner: { run: (target, step) => runner.run(target, { ...step, requestedAt }) },
          ...(this.deps.local === undefined ? {} : { local: this.deps.local }),
          config: this.deps.config,
          log: (severity, message) => this.deps.write(formatLog(severity, vmid, message)),
          signal,
          sleep: sleepFor,
          now: () => Date.now(),
        };
        const work = prepared.run(ctx);
        try {
          const info = await raceAbort(work, signal);
          reply(true, info);
        } catch (error) {
          const where = host === undefined ? '' : ` on ${host}`;
          if (cancelSignal.aborted) reply(false, 'cancelled');
          else if (signal.aborted) reply(false, `timed out after ${limit ?? 0} s (-w)${where}`);
          else reply(false, describeFailure(error));
          // The reply goes at once; the VM and host stay busy until the aborted commands are gone
          // (bounded: the runner kills them), so the VM's next action cannot overlap them.
          if (signal.aborted) await settleWithin(work, ABORT_SETTLE_MS);
        }
      },
    });
  }
}

const ABORT_SETTLE_MS = 15_000;

// Waits for a promise to settle, but no longer than `ms`.
async function settleWithin(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    work.catch(() => undefined),
    new Promise((resolve) => (timer = setTimeout(resolve, ms))),
  ]);
  clearTimeout(timer);
}

// Ends as soon as the signal aborts, even if the work does not notice.
function raceAbort<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
