// NUMA_NODE entries as the scheduler leaves them in the VM template, made usable for <cpu> and <cputune>.
import { TranslateError } from '../util/errors.js';
import type { TranslateContext } from './context.js';
import { parseInteger } from './lookup.js';
import { showValue } from '../util/show-value.js';

export interface NumaNode {
  readonly index: number;
  // Guest vCPUs of this cell: first..last.
  readonly firstVcpu: number;
  readonly lastVcpu: number;
  // Memory of the cell in KiB.
  readonly memoryKib: number;
  // Host CPUs picked by the scheduler (may be empty for a hand-written template).
  readonly hostCpus: readonly string[];
  readonly memoryNodeId: string | undefined;
  readonly distance: string | undefined;
}

// Reads every NUMA_NODE; vCPUs are handed to the cells in order.
export function readNumaNodes(ctx: TranslateContext): NumaNode[] {
  let next = 0;
  return ctx.look.vmVectors('NUMA_NODE').map((node, index) => {
    const where = `NUMA_NODE[${index}]`;
    const totalCpus = parseInteger(node['TOTAL_CPUS']);
    if (totalCpus === undefined || totalCpus < 1) {
      throw new TranslateError(
        `${where}/TOTAL_CPUS`,
        `must be a positive integer, got ${showValue(node['TOTAL_CPUS'] ?? '')}`,
      );
    }
    const memory = parseInteger(node['MEMORY']);
    if (memory === undefined || memory < 1) {
      throw new TranslateError(
        `${where}/MEMORY`,
        `must be a positive integer (KiB), got ${showValue(node['MEMORY'] ?? '')}`,
      );
    }
    const hostCpus = (node['CPUS'] ?? '')
      .split(',')
      .map((cpu) => cpu.trim())
      .filter((cpu) => cpu !== '');
    const cell: NumaNode = {
      index,
      firstVcpu: next,
      lastVcpu: next + totalCpus - 1,
      memoryKib: memory,
      hostCpus,
      memoryNodeId: node['MEMORY_NODE_ID'] || undefined,
      distance: node['DISTANCE'] || undefined,
    };
    next += totalCpus;
    return cell;
  });
}

// Parses DISTANCE "i:v,m-n:v" into a map from node id to distance (self 10, default 20).
export function parseDistances(cell: NumaNode, cellCount: number): number[] {
  const distances = Array.from<unknown, number>({ length: cellCount }, (_, id) =>
    id === cell.index ? 10 : 20,
  );
  for (const item of (cell.distance ?? '').split(',')) {
    if (item.trim() === '') continue;
    const match = /^\s*(\d+)(?:-(\d+))?\s*:\s*(\d+)\s*$/.exec(item);
    if (match === null) {
      throw new TranslateError(
        `NUMA_NODE[${cell.index}]/DISTANCE`,
        `expected 'node:value' items, got ${showValue(item)}`,
      );
    }
    const from = Number(match[1]);
    const to = match[2] === undefined ? from : Number(match[2]);
    for (let id = from; id <= to && id < cellCount; id++) distances[id] = Number(match[3]);
  }
  return distances;
}
