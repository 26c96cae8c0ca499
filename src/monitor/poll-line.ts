// The poll line OpenNebula ≤5.10 expects (reference §4.1): STATE CPU MEMORY NETRX NETTX DISK*.
import type { DomainStats } from './domstats.js';

// virDomainState: 1 running, 2 blocked, 3 paused, 4 shutdown, 5 shutoff, 6 crashed, 7 pmsuspended.
// Paused reasons (virDomainPausedReason) that OpenNebula 5.10 reports as errors: 0 unknown,
// 1 user, 5 I/O error, 6 watchdog, 10 crashed, 13 post-copy failed. Others (2 migration,
// 3 save, 9 snapshot…) stay active.
const PAUSED_ERROR_REASONS = new Set([0, 1, 5, 6, 10, 13]);

// The state letter: a active, p paused, e error, d gone.
export function stateLetter(stats: DomainStats | undefined): 'a' | 'p' | 'e' | 'd' {
  if (stats === undefined) return 'd';
  const state = Number(stats.values.get('state.state'));
  const reason = Number(stats.values.get('state.reason'));
  if (state === 3) return PAUSED_ERROR_REASONS.has(reason) ? 'e' : 'a';
  if (state === 5) return 'd';
  if (state === 6 || state === 7) return 'e';
  return 'a';
}

function sum(stats: DomainStats, pattern: RegExp): number {
  let total = 0;
  for (const [key, value] of stats.values) if (pattern.test(key)) total += Number(value) || 0;
  return total;
}

export interface CpuSample {
  // cpu.time in nanoseconds and when it was read (ms since the epoch).
  readonly cpuTimeNs: number;
  readonly at: number;
}

// CPU as a percentage of one CPU (200 = two full CPUs) between two samples; 0 without a previous one.
export function cpuPercent(previous: CpuSample | undefined, current: CpuSample): number {
  if (previous === undefined || current.at <= previous.at || current.cpuTimeNs < previous.cpuTimeNs) return 0;
  const percent = ((current.cpuTimeNs - previous.cpuTimeNs) / 1e6 / (current.at - previous.at)) * 100;
  return Math.round(percent * 100) / 100;
}

export function cpuSampleOf(stats: DomainStats, at: number): CpuSample {
  return { cpuTimeNs: Number(stats.values.get('cpu.time') ?? 0) || 0, at };
}

// One VM's line: `STATE=a CPU=1.5 MEMORY=524288 NETRX=… NETTX=… DISKRDBYTES=… DISKWRBYTES=… DISKRDIOPS=… DISKWRIOPS=…`.
export function formatPollLine(stats: DomainStats | undefined, cpu: number): string {
  const state = stateLetter(stats);
  if (stats === undefined) return `STATE=${state}`;
  const memory = Number(stats.values.get('balloon.rss') ?? stats.values.get('balloon.current') ?? 0) || 0;
  return [
    `STATE=${state}`,
    `CPU=${cpu}`,
    `MEMORY=${memory}`,
    `NETRX=${sum(stats, /^net\.\d+\.rx\.bytes$/)}`,
    `NETTX=${sum(stats, /^net\.\d+\.tx\.bytes$/)}`,
    `DISKRDBYTES=${sum(stats, /^block\.\d+\.rd\.bytes$/)}`,
    `DISKWRBYTES=${sum(stats, /^block\.\d+\.wr\.bytes$/)}`,
    `DISKRDIOPS=${sum(stats, /^block\.\d+\.rd\.reqs$/)}`,
    `DISKWRIOPS=${sum(stats, /^block\.\d+\.wr\.reqs$/)}`,
  ].join(' ');
}

// The all-VMs report: `VM_POLL=YES` then `VM=[ ID=…, DEPLOY_ID=…, POLL="…" ]` per domain (one line each).
export function formatAllVmsPoll(
  entries: readonly { readonly stats: DomainStats; readonly line: string; readonly uuid?: string }[],
): string {
  const parts = ['VM_POLL=YES'];
  for (const { stats, line, uuid } of entries) {
    const id = /^one-(\d+)$/.exec(stats.name)?.[1];
    const deployId = id === undefined ? (uuid ?? stats.name) : stats.name;
    parts.push(`VM=[ ID=${id ?? -1}, DEPLOY_ID=${deployId}, POLL="${line}" ]`);
  }
  return parts.join(' ');
}
