// cleanup: make sure the domain no longer runs on the host (destroy it if it does); a domain
// that is already gone is a success. Used after a failed deploy or a cancelled migration.
import { showName } from '../util/show-value.js';
import { destroyDomain } from './cancel.js';
import type { ActionContext } from './context.js';

export async function cleanup(
  ctx: ActionContext,
  input: { readonly host: string; readonly domain: string },
): Promise<void> {
  if (await destroyDomain(ctx, input.host, input.domain))
    ctx.log('I', `destroyed ${showName(input.domain)} on ${input.host}`);
}
