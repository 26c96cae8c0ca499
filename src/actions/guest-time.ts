// SYNC_TIME: the guest clock set from the host after the VM was stopped for a while (restore,
// migrate). Needs the QEMU guest agent; without one the failure is only a debug message, as in
// OpenNebula (which runs it in the background and ignores the result).
import { virsh, type ActionContext } from './context.js';

export async function syncGuestTime(ctx: ActionContext, host: string, domain: string): Promise<void> {
  if (!ctx.config.syncTime) return;
  try {
    await ctx.runner.run(
      host,
      virsh(ctx, 'sync guest time', ['domtime', '--sync', '--', domain], { timeoutSeconds: 5, retry: false }),
    );
  } catch (error) {
    ctx.log('D', `SYNC_TIME: ${error instanceof Error ? error.message : String(error)}`);
  }
}
