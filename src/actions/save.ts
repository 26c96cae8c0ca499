// save: the domain's memory to a checkpoint file on the host (`virsh save`); an older checkpoint
// is moved aside first, as OpenNebula does.
import { OnevmmError } from '../util/errors.js';
import { showValue } from '../util/show-value.js';
import { virsh, type ActionContext } from './context.js';

// Seconds allowed for `virsh save` and `virsh restore` (at least; COMMAND_TIMEOUT if longer).
export const SAVE_RESTORE_TIMEOUT = 900;

export interface SaveInput {
  readonly host: string;
  readonly domain: string;
  readonly checkpointFile: string;
}

export async function save(ctx: ActionContext, input: SaveInput): Promise<void> {
  if (!input.checkpointFile.startsWith('/')) {
    throw new OnevmmError(
      'ACTION',
      `save: the checkpoint file must be an absolute path, got ${showValue(input.checkpointFile)}`,
    );
  }
  await ctx.runner.run(input.host, {
    step: 'prepare checkpoint file',
    argv: [
      'sh',
      '-c',
      'if [ -e "$1" ]; then mv -- "$1" "$1.$(date +%s)" || exit 1; fi; mkdir -p -- "$(dirname -- "$1")"',
      'sh',
      input.checkpointFile,
    ],
    signal: ctx.signal,
  });
  // Writing the whole memory out can take longer than an ordinary command.
  const timeoutSeconds = Math.max(ctx.config.commandTimeout, SAVE_RESTORE_TIMEOUT);
  await ctx.runner.run(
    input.host,
    virsh(ctx, 'save domain', ['save', '--', input.domain, input.checkpointFile], { timeoutSeconds }),
  );
}
