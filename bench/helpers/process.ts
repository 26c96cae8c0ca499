// Small process helpers for the benchmarks: an async spawn that times itself, a concurrency pool,
// a command inside a testbed host's namespaces (async, unlike hostRun), and medians.
import { spawn } from 'node:child_process';
import { testbedDir } from '../../test/e2e/helpers/testbed.js';

export interface Timed {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

// Runs a command to completion (stdin from `input`, or none); never throws for a non-zero exit.
export function runTimed(
  command: string,
  args: readonly string[],
  options: {
    readonly input?: string;
    readonly env?: NodeJS.ProcessEnv;
    // Its own session (setsid), as sshd gives every session: with the kernel's autogroup scheduling
    // (sched_autogroup_enabled=1) each session is scheduled as a group of its own, so on a loaded
    // machine commands started in the bench's session would get a smaller share of the CPU than
    // the same commands started by sshd.
    readonly ownSession?: boolean;
  } = {},
): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(command, args, {
      env: options.env ?? process.env,
      detached: options.ownSession ?? false,
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr!.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', reject);
    child.on('close', (status) => {
      resolve({
        status,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        ms: Number(process.hrtime.bigint() - start) / 1e6,
      });
    });
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

// The argv that enters a testbed host's network, mount and UTS namespaces (as hostRun does).
export function nsenterArgv(hostName: string, argv: readonly string[]): string[] {
  const dir = testbedDir();
  return [
    `--net=/run/netns/${hostName}`,
    `--mount=${dir}/ns/${hostName}.mnt`,
    `--uts=${dir}/ns/${hostName}.uts`,
    '--',
    ...argv,
  ];
}

// Runs work(item) for every item with at most `concurrency` at once; resolves with the wall time in ms.
export async function runPool<T>(
  items: readonly T[],
  concurrency: number,
  work: (item: T) => Promise<void>,
): Promise<number> {
  const start = process.hrtime.bigint();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return Number(process.hrtime.bigint() - start) / 1e6;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return 0;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

// min / median / max of samples, rounded to 0.1.
export function spread(values: readonly number[]): { min: number; median: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  return { min: round(sorted[0] ?? 0), median: round(median(sorted)), max: round(sorted.at(-1) ?? 0) };
}

export function round(value: number, digits = 1): number {
  return Number(value.toFixed(digits));
}

// One table row: a label padded to `width`, then the cells right-aligned.
export function row(label: string, cells: readonly string[], width = 58): string {
  return `  ${label.padEnd(width)} ${cells.map((cell) => cell.padStart(10)).join(' ')}`;
}
