// poll: one `virsh domstats` on the host for one VM or for all of them (never one call per VM).
// A host that cannot be asked fails; it is never reported as "all VMs off".
import { classifyError } from '../host/classify.js';
import { parseDomstats, type DomainStats } from '../monitor/domstats.js';
import {
  cpuPercent,
  cpuSampleOf,
  formatAllVmsPoll,
  formatPollLine,
  type CpuSample,
} from '../monitor/poll-line.js';
import { OnevmmError } from '../util/errors.js';
import { showName } from '../util/show-value.js';
import { virsh, type ActionContext } from './context.js';

// Keeps the previous CPU sample of each domain (in memory in the driver, in a file for executables).
export interface CpuSampleStore {
  get(host: string, domain: string): CpuSample | undefined;
  set(host: string, domain: string, sample: CpuSample): void;
}

export interface PollInput {
  readonly host: string;
  // One domain (name or UUID), or undefined for every domain on the host.
  readonly domain?: string;
  readonly samples?: CpuSampleStore;
}

export interface PollResult {
  // The line OpenNebula reads: one VM's `STATE=… CPU=…`, or `VM_POLL=YES VM=[…] …`.
  readonly line: string;
  readonly domains: readonly { readonly name: string; readonly line: string }[];
}

const GROUPS = ['--state', '--cpu-total', '--balloon', '--interface', '--block', '--nowait'];

function lineFor(ctx: ActionContext, input: PollInput, stats: DomainStats | undefined, at: number): string {
  if (stats === undefined) return formatPollLine(undefined, 0);
  const sample = cpuSampleOf(stats, at);
  const cpu = cpuPercent(input.samples?.get(input.host, stats.name), sample);
  input.samples?.set(input.host, stats.name, sample);
  return formatPollLine(stats, cpu);
}

export async function poll(ctx: ActionContext, input: PollInput): Promise<PollResult> {
  const args = ['domstats', ...GROUPS, ...(input.domain === undefined ? [] : ['--', input.domain])];
  let output: string;
  try {
    output = (await ctx.runner.run(input.host, virsh(ctx, 'read domain statistics', args))).stdout;
  } catch (error) {
    if (input.domain !== undefined && classifyError(error) === 'not-found') {
      return { line: formatPollLine(undefined, 0), domains: [] };
    }
    throw error;
  }
  const at = ctx.now();
  const all = parseDomstats(output);
  if (input.domain !== undefined) {
    // virsh answered for the domain but nothing could be read: never report it as gone.
    if (all[0] === undefined) {
      throw new OnevmmError(
        'ACTION',
        `poll: virsh domstats on ${input.host} answered for ${showName(input.domain)}, but with no statistics onevmm can read`,
      );
    }
    const line = lineFor(ctx, input, all[0], at);
    return { line, domains: all.map((stats) => ({ name: stats.name, line })) };
  }
  const entries = all.map((stats) => ({ stats, line: lineFor(ctx, input, stats, at) }));
  return {
    line: formatAllVmsPoll(entries),
    domains: entries.map(({ stats, line }) => ({ name: stats.name, line })),
  };
}
