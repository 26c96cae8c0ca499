// shutdown: ACPI power button, re-sent every SHUTDOWN_RESEND seconds, until the domain is gone;
// after SHUTDOWN_TIMEOUT it is destroyed (FORCE_DESTROY=yes) or the action fails. A domain that
// is already gone is a success. Returns as soon as the domain is gone.
import { classifyError } from '../host/classify.js';
import { OnevmmError } from '../util/errors.js';
import { showName } from '../util/show-value.js';
import { virsh, type ActionContext } from './context.js';
import { destroyDomain } from './cancel.js';
import { isStopped, readDomainState } from './domain-state.js';

export interface ShutdownInput {
  readonly host: string;
  readonly domain: string;
}

export interface ShutdownResult {
  // How it ended: the guest powered off, it was destroyed after the timeout, or it was already gone.
  readonly outcome: 'powered-off' | 'destroyed' | 'already-gone';
  readonly seconds: number;
}

// How often the state is read while waiting; short, so a quick guest is reported quickly.
const POLL_MS = 200;
// A domain created with `virsh create` (as every deploy does) shows `shut off` while libvirt still tears
// it down, then vanishes. Its tap devices may still be on the bridge in that window, and the network
// driver's `clean` that follows the reply would then keep a bridge it should delete (seen under a real
// oned once the state reads took milliseconds): wait for the domain to vanish, this long at most (a
// defined domain stays `shut off`).
const SHUT_OFF_SETTLE_MS = 1000;

async function pressPowerButton(ctx: ActionContext, input: ShutdownInput): Promise<boolean> {
  try {
    await ctx.runner.run(input.host, virsh(ctx, 'send ACPI shutdown', ['shutdown', '--', input.domain]));
    return true;
  } catch (error) {
    const kind = classifyError(error);
    if (kind === 'not-found' || kind === 'not-running') return false;
    throw error;
  }
}

async function hasAcpi(ctx: ActionContext, input: ShutdownInput): Promise<boolean> {
  const xml = await ctx.runner.run(
    input.host,
    virsh(ctx, 'read domain XML', ['dumpxml', '--', input.domain]),
  );
  return /<acpi\s*\/>/.test(xml.stdout);
}

export async function shutdown(ctx: ActionContext, input: ShutdownInput): Promise<ShutdownResult> {
  const started = ctx.now();
  const elapsed = (): number => (ctx.now() - started) / 1000;
  if (isStopped(await readDomainState(ctx, input.host, input.domain)))
    return { outcome: 'already-gone', seconds: elapsed() };
  if (ctx.config.cancelNoAcpi && !(await hasAcpi(ctx, input))) {
    ctx.log('I', `${showName(input.domain)} has no ACPI and CANCEL_NO_ACPI=yes: destroying it`);
    await destroyDomain(ctx, input.host, input.domain);
    return { outcome: 'destroyed', seconds: elapsed() };
  }
  if (!(await pressPowerButton(ctx, input))) return { outcome: 'already-gone', seconds: elapsed() };
  const { shutdownTimeout, shutdownResend } = ctx.config;
  let lastPress = ctx.now();
  let shutOffSince: number | undefined;
  for (;;) {
    await ctx.sleep(POLL_MS, ctx.signal);
    const state = await readDomainState(ctx, input.host, input.domain);
    if (state === 'shut off') shutOffSince ??= ctx.now();
    if (state === 'absent' || (shutOffSince !== undefined && ctx.now() - shutOffSince >= SHUT_OFF_SETTLE_MS))
      return { outcome: 'powered-off', seconds: elapsed() };
    if (state === 'shut off') continue;
    if (elapsed() >= shutdownTimeout) break;
    if ((ctx.now() - lastPress) / 1000 >= shutdownResend) {
      ctx.log(
        'I',
        `${showName(input.domain)} still running after ${Math.round(elapsed())} s: pressing the power button again`,
      );
      if (!(await pressPowerButton(ctx, input))) return { outcome: 'powered-off', seconds: elapsed() };
      lastPress = ctx.now();
    }
  }
  if (!ctx.config.forceDestroy) {
    throw new OnevmmError(
      'TIMEOUT',
      `Timed out shutting down ${showName(input.domain)} on ${input.host} after ${shutdownTimeout} s; it is still running (FORCE_DESTROY=no)`,
    );
  }
  ctx.log(
    'W',
    `Timeout shutting down ${showName(input.domain)} after ${shutdownTimeout} s: destroying it (FORCE_DESTROY=yes)`,
  );
  await destroyDomain(ctx, input.host, input.domain);
  return { outcome: 'destroyed', seconds: elapsed() };
}
