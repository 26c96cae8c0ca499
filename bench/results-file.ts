// bench/results.json: one entry per benchmark, replaced when that benchmark runs again.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const RESULTS_FILE = path.join(import.meta.dirname, 'results.json');

export interface BenchEntry {
  readonly description: string;
  // Numbers, texts, flags; min/median/max objects and lists where a figure has several samples.
  readonly figures: Readonly<Record<string, unknown>>;
  readonly target?: string;
  readonly met?: boolean;
}

// Writes one benchmark's entry, keeping the others, with when and where it ran.
export function recordResult(name: string, entry: BenchEntry): void {
  const all = existsSync(RESULTS_FILE)
    ? (JSON.parse(readFileSync(RESULTS_FILE, 'utf8')) as Record<string, unknown>)
    : {};
  all[name] = {
    ...entry,
    ranAt: new Date().toISOString(),
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? 'unknown', node: process.version },
  };
  writeFileSync(RESULTS_FILE, `${JSON.stringify(all, null, 2)}\n`);
}
