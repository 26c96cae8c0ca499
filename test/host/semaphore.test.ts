import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { Semaphore } from '../../src/host/semaphore.js';

describe('Semaphore', () => {
  it('lets `limit` holders in and queues the rest in arrival order', async () => {
    const semaphore = new Semaphore(2);
    const order: string[] = [];
    const a = await semaphore.acquire();
    const b = await semaphore.acquire();
    const c = semaphore.acquire().then((release) => (order.push('c'), release));
    const d = semaphore.acquire().then((release) => (order.push('d'), release));
    await sleep(1);
    expect([semaphore.active, semaphore.pending, order]).toEqual([2, 2, []]);
    b();
    b(); // releasing twice frees one slot only
    const releaseC = await c;
    expect([semaphore.active, semaphore.pending, order]).toEqual([2, 1, ['c']]);
    a();
    (await d)();
    releaseC();
    expect([semaphore.active, semaphore.pending, order]).toEqual([0, 0, ['c', 'd']]);
  });

  it('never runs more than `limit` tasks at once', async () => {
    const semaphore = new Semaphore(3);
    let running = 0;
    let most = 0;
    await Promise.all(
      Array.from({ length: 20 }, () =>
        semaphore.use(async () => {
          most = Math.max(most, ++running);
          await sleep(2);
          running--;
        }),
      ),
    );
    expect(most).toBe(3);
    expect(semaphore.active).toBe(0);
  });

  it('drops a waiter whose signal aborts, and refuses an aborted signal', async () => {
    const semaphore = new Semaphore(1);
    const release = await semaphore.acquire();
    const controller = new AbortController();
    const waiting = semaphore.acquire(controller.signal);
    controller.abort(new Error('gave up'));
    await expect(waiting).rejects.toThrow('gave up');
    expect(semaphore.pending).toBe(0);
    await expect(semaphore.acquire(AbortSignal.abort())).rejects.toMatchObject({ name: 'AbortError' });
    release();
    expect(semaphore.active).toBe(0);
  });

  it('rejects a limit below 1', () => {
    expect(() => new Semaphore(0)).toThrow(RangeError);
    expect(() => new Semaphore(1.5)).toThrow(RangeError);
  });
});
