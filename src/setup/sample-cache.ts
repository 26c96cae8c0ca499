// CPU samples kept between runs of the poll executable, so CPU can be computed from two samples
// (the driver keeps them in memory instead). A missing or broken cache just means CPU=0 once.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { CpuSampleStore } from '../actions/poll.js';
import type { CpuSample } from '../monitor/poll-line.js';

export function createFileSampleStore(
  env: NodeJS.ProcessEnv = process.env,
): CpuSampleStore & { save(): void } {
  const file = join(
    env['XDG_CACHE_HOME'] ?? join(env['HOME'] ?? homedir(), '.cache'),
    'onevmm',
    'cpu-samples.json',
  );
  let samples: Record<string, CpuSample> = {};
  try {
    samples = JSON.parse(readFileSync(file, 'utf8')) as Record<string, CpuSample>;
  } catch {
    samples = {};
  }
  const key = (host: string, domain: string): string => `${host}\u0000${domain}`;
  return {
    get: (host, domain) => samples[key(host, domain)],
    set: (host, domain, sample) => {
      samples[key(host, domain)] = sample;
    },
    save: () => {
      try {
        mkdirSync(dirname(file), { recursive: true });
        writeFileSync(`${file}.tmp`, JSON.stringify(samples));
        renameSync(`${file}.tmp`, file);
      } catch {
        // Not fatal: the next poll reports CPU=0 once.
      }
    },
  };
}
