// The poll executable's CPU samples between runs: kept in the cache file, old ones dropped on save.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createFileSampleStore } from '../../src/setup/sample-cache.js';

const DAY = 24 * 3600 * 1000;
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function cacheHome(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'onevmm-samples-'));
  dirs.push(dir);
  return dir;
}

describe('createFileSampleStore', () => {
  it('keeps one file per host, named so that no host name leaves the folder', () => {
    const env = { XDG_CACHE_HOME: cacheHome() };
    const store = createFileSampleStore(env);
    for (const host of ['10.0.0.1', '../x', '..', 'a/b'])
      store.set(host, '__proto__', { cpuTimeNs: 1, at: Date.now() });
    store.save();
    expect(readdirSync(path.join(env.XDG_CACHE_HOME, 'onevmm', 'cpu-samples')).sort()).toEqual([
      '%2E%2E%2Fx.json',
      '%2E%2E.json',
      '10%2E0%2E0%2E1.json',
      'a%2Fb.json',
    ]);
    expect(createFileSampleStore(env).get('../x', '__proto__')?.cpuTimeNs).toBe(1);
  });

  it('keeps samples from one run to the next', () => {
    const env = { XDG_CACHE_HOME: cacheHome() };
    const first = createFileSampleStore(env);
    first.set('h1', 'one-1', { cpuTimeNs: 5, at: Date.now() });
    first.save();
    expect(createFileSampleStore(env).get('h1', 'one-1')?.cpuTimeNs).toBe(5);
    expect(createFileSampleStore(env).get('h2', 'one-1')).toBeUndefined();
  });

  it('drops samples older than a day when it saves (domains that are gone)', () => {
    const env = { XDG_CACHE_HOME: cacheHome() };
    const now = 1_800_000_000_000;
    const store = createFileSampleStore(env, () => now);
    store.set('h1', 'one-gone', { cpuTimeNs: 1, at: now - DAY - 1 });
    store.set('h1', 'one-idle', { cpuTimeNs: 2, at: now - DAY });
    store.set('h1', 'one-live', { cpuTimeNs: 3, at: now });
    store.save();
    const file = path.join(env.XDG_CACHE_HOME, 'onevmm', 'cpu-samples', 'h1.json');
    expect(Object.keys(JSON.parse(readFileSync(file, 'utf8')) as object)).toEqual(['one-idle', 'one-live']);
  });

  it('starts empty from a broken file', () => {
    const env = { XDG_CACHE_HOME: cacheHome() };
    const store = createFileSampleStore(env);
    store.set('h1', 'one-1', { cpuTimeNs: 1, at: Date.now() });
    store.save();
    writeFileSync(path.join(env.XDG_CACHE_HOME, 'onevmm', 'cpu-samples', 'h1.json'), '{');
    expect(createFileSampleStore(env).get('h1', 'one-1')).toBeUndefined();
  });
});
