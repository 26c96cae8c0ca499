// reboot and reset: one virsh command each (ACPI reboot, hardware reset).
import { virsh, type ActionContext } from './context.js';

export interface DomainInput {
  readonly host: string;
  readonly domain: string;
}

export async function reboot(ctx: ActionContext, input: DomainInput): Promise<void> {
  await ctx.runner.run(input.host, virsh(ctx, 'reboot domain', ['reboot', '--', input.domain]));
}

export async function reset(ctx: ActionContext, input: DomainInput): Promise<void> {
  await ctx.runner.run(input.host, virsh(ctx, 'reset domain', ['reset', '--', input.domain]));
}
