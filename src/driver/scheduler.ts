// Runs jobs under oned's rules: at most `concurrency` at once, a VM's jobs in arrival order, one
// job per host at a time unless parallel; a VM's jobs can be cancelled (running ones aborted).
export interface Job {
  readonly vmid: string;
  // The host the job acts on; undefined when it has none (it then only waits for its VM).
  readonly host: string | undefined;
  run(signal: AbortSignal): Promise<void>;
  // Called instead of run() when the job is dropped from the queue by a cancel.
  dropped(): void;
  // Runs beside the VM's running job instead of after it (BACKUPCANCEL stops a running BACKUP),
  // and holds neither the VM nor a host slot.
  readonly alongside?: boolean;
}

interface Entry {
  readonly job: Job;
  readonly controller: AbortController;
}

export class Scheduler {
  private readonly queue: Entry[] = [];
  private readonly running = new Set<Entry>();
  private readonly busyVms = new Set<string>();
  private readonly busyHosts = new Map<string, number>();
  private readonly waiters: (() => void)[] = [];
  private readonly concurrency: number;
  private readonly perHostLimit: number;

  // `parallelPerHost` (-p) lets several jobs run on one host, at most `perHostLimit` (default:
  // all but one slot), so that a dead or hung host never holds every slot.
  constructor(concurrency: number, parallelPerHost: boolean, perHostLimit = Math.max(1, concurrency - 1)) {
    this.concurrency = concurrency;
    this.perHostLimit = parallelPerHost ? Math.max(1, Math.min(perHostLimit, concurrency)) : 1;
  }

  get size(): { readonly running: number; readonly queued: number } {
    return { running: this.running.size, queued: this.queue.length };
  }

  submit(job: Job): void {
    this.queue.push({ job, controller: new AbortController() });
    this.pump();
  }

  // Aborts the VM's running job and drops its queued ones; returns how many of each.
  cancel(vmid: string, reason: Error): { readonly aborted: number; readonly dropped: number } {
    let aborted = 0;
    for (const entry of this.running) {
      if (entry.job.vmid === vmid && !entry.controller.signal.aborted) {
        entry.controller.abort(reason);
        aborted++;
      }
    }
    const kept = this.queue.filter((entry) => entry.job.vmid !== vmid);
    const dropped = this.queue.filter((entry) => entry.job.vmid === vmid);
    this.queue.splice(0, this.queue.length, ...kept);
    for (const entry of dropped) entry.job.dropped();
    this.notifyIfIdle();
    return { aborted, dropped: dropped.length };
  }

  // Resolves when nothing runs and nothing is queued.
  idle(): Promise<void> {
    if (this.running.size === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private canStart(entry: Entry, vmsSeen: Set<string>): boolean {
    const { vmid, host } = entry.job;
    if (entry.job.alongside === true) return true;
    // A VM's jobs keep their order: only the first queued job of a VM may start.
    if (vmsSeen.has(vmid) || this.busyVms.has(vmid)) return false;
    return host === undefined || (this.busyHosts.get(host) ?? 0) < this.perHostLimit;
  }

  private pump(): void {
    const vmsSeen = new Set<string>();
    for (let i = 0; i < this.queue.length && this.running.size < this.concurrency;) {
      const entry = this.queue[i];
      if (entry === undefined) break;
      if (!this.canStart(entry, vmsSeen)) {
        vmsSeen.add(entry.job.vmid);
        i++;
        continue;
      }
      this.queue.splice(i, 1);
      this.start(entry);
    }
  }

  private start(entry: Entry): void {
    const { vmid } = entry.job;
    const alongside = entry.job.alongside === true;
    const host = alongside ? undefined : entry.job.host;
    this.running.add(entry);
    if (!alongside) this.busyVms.add(vmid);
    if (host !== undefined) this.busyHosts.set(host, (this.busyHosts.get(host) ?? 0) + 1);
    void entry.job
      .run(entry.controller.signal)
      .catch(() => undefined)
      .finally(() => {
        this.running.delete(entry);
        if (!alongside) this.busyVms.delete(vmid);
        if (host !== undefined) {
          const left = (this.busyHosts.get(host) ?? 1) - 1;
          if (left === 0) this.busyHosts.delete(host);
          else this.busyHosts.set(host, left);
        }
        this.pump();
        this.notifyIfIdle();
      });
  }

  private notifyIfIdle(): void {
    if (this.running.size > 0 || this.queue.length > 0) return;
    for (const resolve of this.waiters.splice(0)) resolve();
  }
}
