// Runs one action for either CLI face (the executables and the `onevmm` subcommands): Ctrl-C/TERM
// abort it, the context comes from the flags, the result is printed as text or --json.
import { OnevmmError } from '../util/errors.js';
import { createCliActionContext } from './action-context.js';
import type { CliIo } from './io.js';
import type { ActionInput, RemoteAction } from './action-args.js';

export interface ExecuteFlags {
  readonly kvmrc?: string | undefined;
  readonly dryRun?: boolean | undefined;
  readonly verbose?: boolean | undefined;
  readonly json?: boolean | undefined;
}

// Runs the action and prints its result; resolves to the exit code. Errors are thrown for the
// caller's single handler.
export async function executeAction(
  name: string,
  action: RemoteAction,
  request: Record<string, string>,
  input: ActionInput,
  flags: ExecuteFlags,
  io: CliIo,
): Promise<number> {
  const controller = new AbortController();
  const onSignal = (): void => controller.abort(new OnevmmError('CANCELLED', `${name} interrupted`));
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  try {
    const built = await createCliActionContext(
      {
        kvmrc: flags.kvmrc,
        dryRun: flags.dryRun,
        verbose: flags.verbose,
        runningOn: action.createsDomain ? undefined : request['host'],
        assume: action.dryRunAssumes?.(request),
      },
      io,
      controller.signal,
    );
    try {
      const progress = io.progress;
      const result = await action.run(
        built.ctx,
        request,
        progress === undefined ? input : { ...input, progress },
      );
      if (progress !== undefined) progress('');
      if (flags.json === true) io.stdout(`${JSON.stringify({ action: name, ok: true, ...result.json })}\n`);
      else {
        if (result.output !== '') io.stdout(result.raw === true ? result.output : `${result.output}\n`);
        if (result.stderr !== undefined && result.stderr !== '') io.stderr(result.stderr.replace(/\n$/, ''));
      }
      return result.exitCode ?? 0;
    } finally {
      await built.close();
    }
  } finally {
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
  }
}
