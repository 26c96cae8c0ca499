// CPU samples kept between runs of the poll executable, so CPU can be computed from two samples
// (the driver keeps them in memory instead). A missing or broken cache just means CPU=0 once.
// One file per host, so that a poll reads and writes only its host's samples, and samples older than
// a day are dropped when it is saved (domains come and go: one file for every host and every domain
// ever polled had grown to 125 KB on a test machine and cost each poll ~8 ms).
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { CpuSampleStore } from '../actions/poll.js';
import type { CpuSample } from '../monitor/poll-line.js';

const KEEP_MS = 24 * 3600 * 1000;

export function createFileSampleStore(
  env: NodeJS.ProcessEnv = process.env,
  now: () => number = Date.now,
): CpuSampleStore & { save(): void } {
  const dir = join(
    env['XDG_CACHE_HOME'] ?? join(env['HOME'] ?? homedir(), '.cache'),
    'onevmm',
    'cpu-samples',
  );
  // A host name or address as a file name ("/" and "%" escaped, "." and ".." cannot come out).
  const fileOf = (host: string): string =>
    join(dir, `${encodeURIComponent(host).replace(/\./g, '%2E')}.json`);
  // Maps, not objects: a domain may be called "__proto__".
  const hosts = new Map<string, Map<string, CpuSample>>();
  const samplesOf = (host: string): Map<string, CpuSample> => {
    let samples = hosts.get(host);
    if (samples === undefined) {
      try {
        const saved = JSON.parse(readFileSync(fileOf(host), 'utf8')) as Record<string, CpuSample>;
        samples = new Map(Object.entries(saved));
      } catch {
        samples = new Map();
      }
      hosts.set(host, samples);
    }
    return samples;
  };
  return {
    get: (host, domain) => samplesOf(host).get(domain),
    set: (host, domain, sample) => {
      samplesOf(host).set(domain, sample);
    },
    save: () => {
      const since = now() - KEEP_MS;
      for (const [host, samples] of hosts) {
        const file = fileOf(host);
        try {
          mkdirSync(dir, { recursive: true });
          const kept = Object.fromEntries([...samples].filter(([, sample]) => sample.at >= since));
          writeFileSync(`${file}.tmp`, JSON.stringify(kept));
          renameSync(`${file}.tmp`, file);
        } catch {
          // Not fatal: the next poll reports CPU=0 once.
        }
      }
    },
  };
}
