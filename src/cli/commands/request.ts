// `onevmm request <ACTION> <vmid> <payload>`: one request of oned's protocol by hand, from its
// payload (as oned sent it, or as the driver log recorded it), with every TM, VNM, DS and VMM step
// the driver would run; prints the reply line the driver would send. This is the by-hand face of
// the actions that have no executable of their own in OpenNebula (UPDATESG, UPDATENIC, BACKUP,
// BACKUPCANCEL, DISKSNAPSHOTCREATE, …) and a way to replay a request that failed under oned.
import type { Argv } from 'yargs';
import { toOneLine } from '../../util/one-line.js';
import { readTextFile } from '../../setup/load-vm.js';
import { describeFailure, OnevmmError } from '../../util/errors.js';
import { createCliActionContext } from '../action-context.js';
import { readStdin, type CliIo } from '../io.js';
import type { GlobalFlags } from './actions.js';

export interface RequestArgs extends GlobalFlags {
  readonly action: string;
  readonly vmid: string;
  readonly payload: string;
}

export function describeRequest(yargs: Argv): Argv<RequestArgs> {
  return yargs
    .positional('action', {
      type: 'string',
      demandOption: true,
      describe: 'the action, as oned names it (DEPLOY, UPDATECONF, UPDATESG, UPDATENIC, BACKUP, EXEC, …)',
    })
    .positional('vmid', { type: 'string', demandOption: true, describe: 'the VM id' })
    .positional('payload', {
      type: 'string',
      demandOption: true,
      describe: "the VMM_DRIVER_ACTION_DATA document, as XML or base64 (a file, or '-' for stdin)",
    });
}

async function readPayload(source: string): Promise<string> {
  const text = source === '-' ? (await readStdin()).toString('utf8') : await readTextFile(source, 'payload');
  const trimmed = text.trim();
  // oned sends base64; the driver log and oned's VM folder keep XML
  return trimmed.startsWith('<')
    ? Buffer.from(trimmed, 'utf8').toString('base64')
    : trimmed.replace(/\s+/g, '');
}

// Runs the request; the reply line goes to stdout (as JSON with --json). Exit code 1 on FAILURE.
export async function runRequest(args: RequestArgs, io: CliIo): Promise<number> {
  // the step machinery is loaded by this command only (the other commands start without it)
  const [{ prepareAction }, { createHandlerEnv }, { DIRECT_ACTIONS }, { STEP_LISTS }] = await Promise.all([
    import('../../steps/prepare.js'),
    import('../../setup/handler-env.js'),
    import('../../steps/direct-actions.js'),
    import('../../steps/step-lists.js'),
  ]);
  const known = [...Object.keys(STEP_LISTS), ...DIRECT_ACTIONS].sort();
  const action = args.action.toUpperCase();
  if (!known.includes(action))
    throw new OnevmmError('USAGE', `unknown action '${args.action}': one of ${known.join(', ')}`);
  if (!/^\d+$/.test(args.vmid)) throw new OnevmmError('USAGE', `not a VM id: '${args.vmid}'`);
  const payload = await readPayload(args.payload);
  const controller = new AbortController();
  const onSignal = (): void => controller.abort(new OnevmmError('CANCELLED', `${action} interrupted`));
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  try {
    const built = await createCliActionContext(
      { kvmrc: args.kvmrc, dryRun: args.dryRun, verbose: args.verbose },
      io,
      controller.signal,
    );
    const env = createHandlerEnv({
      defaults: args.defaults,
      localActions: new Map(),
      tmTimeoutSeconds: built.ctx.config.tmTimeout,
    });
    let ok = true;
    let info: string;
    let prefix: string | undefined;
    try {
      const prepared = prepareAction(action, args.vmid, payload, env);
      prefix = prepared.prefix;
      info = await prepared.run(built.ctx);
    } catch (error) {
      ok = false;
      info = describeFailure(error);
    } finally {
      await built.close();
    }
    // the driver's reply: <ACTION> SUCCESS|FAILURE <vmid> <info>
    const reply = toOneLine(prefix === undefined ? info : `${prefix} ${info}`);
    if (args.json === true) io.stdout(`${JSON.stringify({ action, ok, vmid: args.vmid, info: reply })}\n`);
    else io.stdout(`${action} ${ok ? 'SUCCESS' : 'FAILURE'} ${args.vmid} ${reply}\n`);
    return ok ? 0 : 1;
  } finally {
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
  }
}
