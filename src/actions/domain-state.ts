// Reads a domain's state on a host: 'absent' when libvirt does not know it.
import { classifyError } from '../host/classify.js';
import { virsh, type ActionContext } from './context.js';

export type DomainState =
  'absent' | 'running' | 'paused' | 'shut off' | 'shutdown' | 'crashed' | 'pmsuspended' | 'other';

// `virsh domstate <id>`; a domain libvirt does not know is 'absent', any other failure is thrown.
export async function readDomainState(
  ctx: ActionContext,
  host: string,
  domain: string,
): Promise<DomainState> {
  try {
    const result = await ctx.runner.run(host, virsh(ctx, 'read domain state', ['domstate', '--', domain]));
    const state = result.stdout.trim().split('\n')[0]?.trim() ?? '';
    if (state === 'in shutdown') return 'shutdown';
    const known = ['running', 'paused', 'shut off', 'crashed', 'pmsuspended'];
    return (
      known.includes(state) ? state : state === 'idle' || state === 'blocked' ? 'running' : 'other'
    ) as DomainState;
  } catch (error) {
    if (classifyError(error) === 'not-found') return 'absent';
    throw error;
  }
}

// True when the domain no longer runs: gone (transient domains vanish) or shut off.
export function isStopped(state: DomainState): boolean {
  return state === 'absent' || state === 'shut off';
}
