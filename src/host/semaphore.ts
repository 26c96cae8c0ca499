// A counting semaphore: at most `limit` holders at once, waiters served in arrival order.

export class Semaphore {
  readonly limit: number;
  private held = 0;
  private readonly waiters: (() => void)[] = [];

  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1)
      throw new RangeError(`semaphore limit must be ≥ 1, got ${limit}`);
    this.limit = limit;
  }

  // How many holders there are now.
  get active(): number {
    return this.held;
  }

  // How many callers wait for a slot.
  get pending(): number {
    return this.waiters.length;
  }

  // Resolves with a release function once a slot is free; rejects with the signal's reason if aborted first.
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    if (this.held < this.limit) {
      this.held++;
      return Promise.resolve(this.releaser());
    }
    return new Promise((resolve, reject) => {
      const grant = (): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve(this.releaser());
      };
      const onAbort = (): void => {
        const at = this.waiters.indexOf(grant);
        if (at >= 0) this.waiters.splice(at, 1);
        reject(signal?.reason as Error);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(grant);
    });
  }

  // A release function when a slot is free now and nobody waits for one, else undefined.
  tryAcquire(): (() => void) | undefined {
    if (this.held >= this.limit || this.waiters.length > 0) return undefined;
    this.held++;
    return this.releaser();
  }

  // Runs fn while holding a slot.
  async use<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const release = await this.acquire(signal);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  // A release function that works once: the slot passes to the next waiter or is freed.
  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      if (next) next();
      else this.held--;
    };
  }
}
