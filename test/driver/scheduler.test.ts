import { describe, expect, it } from 'vitest';
import { Scheduler, type Job } from '../../src/driver/scheduler.js';
import { flush } from './helpers.js';

// A job whose run() waits until the test finishes it; records what happened to it.
interface FakeJob extends Job {
  readonly name: string;
  readonly state: 'queued' | 'running' | 'done' | 'failed' | 'dropped';
  readonly signal: AbortSignal | undefined;
  finish(): void;
  fail(error?: Error): void;
}

interface Recorder {
  // Names in the order they started.
  readonly started: string[];
  // Highest number running at once, overall, per VM and per host.
  readonly peak: { all: number; vm: Map<string, number>; host: Map<string, number> };
  job(name: string, vmid: string, host: string | undefined, options?: { abortable?: boolean }): FakeJob;
}

function createRecorder(): Recorder {
  const started: string[] = [];
  const running = new Set<FakeJob>();
  const peak = { all: 0, vm: new Map<string, number>(), host: new Map<string, number>() };
  const bump = (map: Map<string, number>, key: string, count: number): void => {
    map.set(key, Math.max(map.get(key) ?? 0, count));
  };
  return {
    started,
    peak,
    job(name, vmid, host, options = {}) {
      let state: FakeJob['state'] = 'queued';
      let signal: AbortSignal | undefined;
      let settle: ((error?: Error) => void) | undefined;
      const job: FakeJob = {
        name,
        vmid,
        host,
        get state() {
          return state;
        },
        get signal() {
          return signal;
        },
        run(given) {
          expect(state).toBe('queued');
          state = 'running';
          signal = given;
          started.push(name);
          running.add(job);
          const all = [...running];
          peak.all = Math.max(peak.all, all.length);
          bump(peak.vm, vmid, all.filter((other) => other.vmid === vmid).length);
          if (host !== undefined) bump(peak.host, host, all.filter((other) => other.host === host).length);
          return new Promise<void>((resolve, reject) => {
            settle = (error) => {
              running.delete(job);
              state = error === undefined ? 'done' : 'failed';
              if (error === undefined) resolve();
              else reject(error);
            };
            if (options.abortable === true)
              given.addEventListener('abort', () => settle?.(given.reason as Error), { once: true });
          });
        },
        dropped() {
          expect(state).toBe('queued');
          state = 'dropped';
        },
        finish() {
          if (settle === undefined) throw new Error(`${name} is not running`);
          settle();
        },
        fail(error = new Error(`${name} failed`)) {
          if (settle === undefined) throw new Error(`${name} is not running`);
          settle(error);
        },
      };
      return job;
    },
  };
}

// Resolves to true when the promise settled within a few turns of the event loop.
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  void promise.then(() => (done = true));
  await flush();
  return done;
}

describe('Scheduler', () => {
  it('runs at most `concurrency` jobs at once and starts the next as one ends', async () => {
    const rec = createRecorder();
    const scheduler = new Scheduler(3, true);
    const jobs = Array.from({ length: 7 }, (_, i) => rec.job(`j${i}`, String(i), `h${i}`));
    for (const job of jobs) scheduler.submit(job);

    expect(rec.started).toEqual(['j0', 'j1', 'j2']);
    expect(scheduler.size).toEqual({ running: 3, queued: 4 });

    jobs[1]!.finish();
    await flush();
    expect(rec.started).toEqual(['j0', 'j1', 'j2', 'j3']);

    jobs[0]!.fail(); // a failed job frees its slot too
    jobs[2]!.finish();
    await flush();
    expect(rec.started).toEqual(['j0', 'j1', 'j2', 'j3', 'j4', 'j5']);

    for (const job of jobs.slice(3)) if (job.state === 'running') job.finish();
    await flush();
    jobs[6]!.finish();
    await flush();
    expect(rec.started).toHaveLength(7);
    expect(rec.peak.all).toBe(3);
    expect(scheduler.size).toEqual({ running: 0, queued: 0 });
  });

  it("runs a VM's jobs one at a time in arrival order, even with a free host and free slots", async () => {
    const rec = createRecorder();
    const scheduler = new Scheduler(15, true);
    const a = rec.job('deploy', '42', 'node1');
    const b = rec.job('shutdown', '42', 'node1');
    const c = rec.job('cleanup', '42', 'node2');
    for (const job of [a, b, c]) scheduler.submit(job);

    expect(rec.started).toEqual(['deploy']);
    a.finish();
    await flush();
    expect(rec.started).toEqual(['deploy', 'shutdown']);
    b.fail();
    await flush();
    expect(rec.started).toEqual(['deploy', 'shutdown', 'cleanup']);
    c.finish();
    await flush();
    expect(rec.peak.vm.get('42')).toBe(1);
  });

  it("keeps a VM's order when a later job of it could start earlier (its host is free, the first's is not)", async () => {
    const rec = createRecorder();
    const scheduler = new Scheduler(15, false);
    const other = rec.job('other-on-h1', '1', 'h1');
    const first = rec.job('vm2-on-h1', '2', 'h1');
    const second = rec.job('vm2-on-h2', '2', 'h2');
    for (const job of [other, first, second]) scheduler.submit(job);

    // vm2-on-h1 waits for h1; vm2-on-h2 must wait for vm2-on-h1 although h2 is free.
    expect(rec.started).toEqual(['other-on-h1']);
    other.finish();
    await flush();
    expect(rec.started).toEqual(['other-on-h1', 'vm2-on-h1']);
    first.finish();
    await flush();
    expect(rec.started).toEqual(['other-on-h1', 'vm2-on-h1', 'vm2-on-h2']);
  });

  it('runs one job per host at a time without -p; a blocked job does not block other hosts', async () => {
    const rec = createRecorder();
    const scheduler = new Scheduler(15, false);
    const h1a = rec.job('h1a', '1', 'h1');
    const h1b = rec.job('h1b', '2', 'h1');
    const h2a = rec.job('h2a', '3', 'h2');
    const h1c = rec.job('h1c', '4', 'h1');
    const h3a = rec.job('h3a', '5', 'h3');
    for (const job of [h1a, h1b, h2a, h1c, h3a]) scheduler.submit(job);

    expect(rec.started).toEqual(['h1a', 'h2a', 'h3a']);
    h1a.finish();
    await flush();
    expect(rec.started).toEqual(['h1a', 'h2a', 'h3a', 'h1b']);
    h1b.finish();
    await flush();
    expect(rec.started).toEqual(['h1a', 'h2a', 'h3a', 'h1b', 'h1c']);
    h1c.finish();
    h2a.finish();
    h3a.finish();
    await flush();
    expect(rec.peak.host.get('h1')).toBe(1);
  });

  it('runs jobs of different VMs on one host in parallel with -p', () => {
    const rec = createRecorder();
    const scheduler = new Scheduler(15, true);
    for (let i = 0; i < 5; i++) scheduler.submit(rec.job(`j${i}`, String(i), 'h1'));

    expect(rec.started).toEqual(['j0', 'j1', 'j2', 'j3', 'j4']);
    expect(rec.peak.host.get('h1')).toBe(5);
  });

  it('does not hold jobs without a host back for a busy host', () => {
    const rec = createRecorder();
    const scheduler = new Scheduler(15, false);
    scheduler.submit(rec.job('a', '1', 'h1'));
    scheduler.submit(rec.job('b', '2', undefined));
    scheduler.submit(rec.job('c', '3', undefined));

    expect(rec.started).toEqual(['a', 'b', 'c']);
  });

  it('a job that never ends delays nothing on other VMs and hosts', async () => {
    const rec = createRecorder();
    const scheduler = new Scheduler(4, false);
    const stuck = rec.job('stuck', '1', 'dead-host');
    scheduler.submit(stuck);
    scheduler.submit(rec.job('stuck-next', '2', 'dead-host'));
    for (let i = 0; i < 20; i++) {
      const job = rec.job(`ok${i}`, String(100 + i), `h${i}`);
      scheduler.submit(job);
      job.finish();
      await flush();
    }

    expect(rec.started).toEqual(['stuck', ...Array.from({ length: 20 }, (_, i) => `ok${i}`)]);
    expect(stuck.state).toBe('running');
    expect(scheduler.size).toEqual({ running: 1, queued: 1 });
  });

  it("cancel aborts the VM's running job through its signal and drops its queued jobs", async () => {
    const rec = createRecorder();
    const scheduler = new Scheduler(15, true);
    const running = rec.job('shutdown', '42', 'node1', { abortable: true });
    const queued1 = rec.job('cancel', '42', 'node1');
    const queued2 = rec.job('cleanup', '42', 'node1');
    const otherVm = rec.job('deploy-7', '7', 'node1');
    for (const job of [running, queued1, queued2, otherVm]) scheduler.submit(job);
    const reason = new Error('cancelled');

    const result = scheduler.cancel('42', reason);

    expect(result).toEqual({ aborted: 1, dropped: 2 });
    expect(running.signal?.aborted).toBe(true);
    expect(running.signal?.reason).toBe(reason);
    expect(otherVm.signal?.aborted).toBe(false);
    expect([queued1.state, queued2.state]).toEqual(['dropped', 'dropped']);
    await flush();
    expect(running.state).toBe('failed');
    expect(otherVm.state).toBe('running');
    expect(scheduler.size).toEqual({ running: 1, queued: 0 });
    expect(rec.started).toEqual(['shutdown', 'deploy-7']);
  });

  it('cancel of a VM with nothing to do does nothing', () => {
    const rec = createRecorder();
    const scheduler = new Scheduler(15, true);
    const job = rec.job('a', '1', 'h1');
    scheduler.submit(job);

    expect(scheduler.cancel('2', new Error('cancelled'))).toEqual({ aborted: 0, dropped: 0 });
    expect(job.signal?.aborted).toBe(false);
  });

  it('a second cancel does not count the already-aborted job again', () => {
    const rec = createRecorder();
    const scheduler = new Scheduler(15, true);
    scheduler.submit(rec.job('a', '1', 'h1')); // ignores its signal: stays running

    expect(scheduler.cancel('1', new Error('cancelled'))).toEqual({ aborted: 1, dropped: 0 });
    expect(scheduler.cancel('1', new Error('cancelled'))).toEqual({ aborted: 0, dropped: 0 });
  });

  it("a VM's job submitted after a cancel runs once the aborted one has ended", async () => {
    const rec = createRecorder();
    const scheduler = new Scheduler(15, true);
    const old = rec.job('old', '42', 'h1');
    scheduler.submit(old);
    scheduler.cancel('42', new Error('cancelled'));
    const next = rec.job('next', '42', 'h1');
    scheduler.submit(next);

    expect(next.state).toBe('queued');
    old.fail();
    await flush();
    expect(next.state).toBe('running');
  });

  it('idle() resolves at once when nothing is there, and only when every job has ended otherwise', async () => {
    const rec = createRecorder();
    const scheduler = new Scheduler(1, false);
    expect(await settled(scheduler.idle())).toBe(true);

    const a = rec.job('a', '1', 'h1');
    const b = rec.job('b', '2', 'h1');
    scheduler.submit(a);
    scheduler.submit(b);
    const idle = scheduler.idle();
    const idle2 = scheduler.idle();

    expect(await settled(idle)).toBe(false);
    a.finish();
    expect(await settled(idle)).toBe(false); // b started and still runs
    expect(b.state).toBe('running');
    b.fail();
    expect(await settled(idle)).toBe(true);
    expect(await settled(idle2)).toBe(true);
  });

  it('idle() resolves when a cancel leaves nothing behind', async () => {
    const rec = createRecorder();
    const scheduler = new Scheduler(1, false);
    const a = rec.job('a', '1', 'h1', { abortable: true });
    const b = rec.job('b', '1', 'h1');
    scheduler.submit(a);
    scheduler.submit(b);
    const idle = scheduler.idle();

    scheduler.cancel('1', new Error('cancelled'));

    expect(await settled(idle)).toBe(true);
    expect([a.state, b.state]).toEqual(['failed', 'dropped']);
  });
});
