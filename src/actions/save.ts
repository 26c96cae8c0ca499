// save: the domain's memory to a checkpoint file on the host (`virsh save`); an older checkpoint
// is moved aside first, as OpenNebula does.
import { virsh, type ActionContext } from './context.js';

export interface SaveInput {
  readonly host: string;
  readonly domain: string;
  readonly checkpointFile: string;
}

export async function save(ctx: ActionContext, input: SaveInput): Promise<void> {
  await ctx.runner.run(input.host, {
    step: 'prepare checkpoint file',
    argv: [
      'sh',
      '-c',
      'if [ -e "$1" ]; then mv -- "$1" "$1.$(date +%s)"; fi; mkdir -p -- "$(dirname -- "$1")"',
      'sh',
      input.checkpointFile,
    ],
    signal: ctx.signal,
  });
  await ctx.runner.run(input.host, virsh(ctx, 'save domain', ['save', input.domain, input.checkpointFile]));
}
