// cancel: `virsh destroy`; a domain that is gone or not running is a success. The domain is
// checked to be gone before success is reported.
import { classifyError } from '../host/classify.js';
import { OnevmmError } from '../util/errors.js';
import { showName } from '../util/show-value.js';
import { virsh, type ActionContext } from './context.js';
import { isStopped, readDomainState } from './domain-state.js';

export interface CancelInput {
  readonly host: string;
  readonly domain: string;
}

// Destroys a domain and checks that it is gone; true when it was running.
export async function destroyDomain(ctx: ActionContext, host: string, domain: string): Promise<boolean> {
  let destroyed = true;
  try {
    await ctx.runner.run(host, virsh(ctx, 'destroy domain', ['destroy', '--', domain]));
  } catch (error) {
    const kind = classifyError(error);
    if (kind !== 'not-found' && kind !== 'not-running') throw error;
    destroyed = false;
  }
  const state = await readDomainState(ctx, host, domain);
  if (!isStopped(state)) {
    throw new OnevmmError(
      'ACTION',
      `destroy of ${showName(domain)} on ${host} returned, but the domain is still ${state}`,
    );
  }
  return destroyed;
}

export async function cancel(
  ctx: ActionContext,
  input: CancelInput,
): Promise<{ readonly wasRunning: boolean }> {
  return { wasRunning: await destroyDomain(ctx, input.host, input.domain) };
}
