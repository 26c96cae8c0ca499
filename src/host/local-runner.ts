// A HostRunner that runs steps on this machine (the front-end) with execa: argv directly, no shell.
// Each command leads its own process group, and a timeout or an abort signals the whole group
// (TERM, then KILL): a TM script's ssh, scp or qemu-img children never outlive it.
import { execa } from 'execa';
import { CommandError, requireSuccess } from './errors.js';
import type { CommandFailure } from './errors.js';
import { quote, quoteCommand } from './quote.js';
import { DEFAULT_KILL_AFTER_SECONDS } from './remote-command.js';
import type { CommandResult, HostRunner, RemoteStep } from './runner.js';

export interface LocalRunnerOptions {
  // COMMAND_TIMEOUT, for steps without their own.
  readonly commandTimeoutSeconds: number;
  // After the timeout or an abort, SIGTERM first, then SIGKILL this much later.
  readonly killAfterSeconds?: number;
  readonly maxOutputBytes?: number;
}

// Same cap as the SSH runner (in characters here: execa counts decoded text).
const DEFAULT_MAX_OUTPUT_BYTES = 16 * 1024 * 1024;

export class LocalRunner implements HostRunner {
  private readonly options: LocalRunnerOptions;

  constructor(options: LocalRunnerOptions) {
    this.options = options;
  }

  // `label` names where the step runs in messages (e.g. "front-end"); the command runs here either way.
  async run(label: string, step: RemoteStep): Promise<CommandResult> {
    const [file, ...args] = step.argv;
    if (file === undefined) throw new Error(`${step.step}: a command needs at least one word`);
    const env = { LC_ALL: 'C', ...step.env };
    const command = [
      ...Object.entries(env).map(([k, v]) => `${k}=${quote(v)}`),
      quoteCommand(step.argv),
    ].join(' ');
    const timeoutMs = (step.timeoutSeconds ?? this.options.commandTimeoutSeconds) * 1000;
    const maxBytes = this.options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
    const subprocess = execa(file, args, {
      env,
      extendEnv: true,
      reject: false,
      stripFinalNewline: false,
      // Its own process group, so that the whole group can be signalled.
      detached: true,
      maxBuffer: maxBytes,
      ...(step.stdin === undefined ? { stdin: 'ignore' as const } : { input: step.stdin }),
    });
    let ended: 'timeout' | 'cancelled' | undefined;
    const killTimers: NodeJS.Timeout[] = [];
    const stop = (why: 'timeout' | 'cancelled'): void => {
      if (ended !== undefined) return;
      ended = why;
      signalGroup(subprocess.pid, 'SIGTERM');
      killTimers.push(
        setTimeout(
          () => signalGroup(subprocess.pid, 'SIGKILL'),
          (this.options.killAfterSeconds ?? DEFAULT_KILL_AFTER_SECONDS) * 1000,
        ),
      );
    };
    const timer = setTimeout(() => stop('timeout'), timeoutMs);
    const onAbort = (): void => stop('cancelled');
    if (step.signal?.aborted === true) onAbort();
    step.signal?.addEventListener('abort', onAbort, { once: true });
    const result = await subprocess;
    clearTimeout(timer);
    for (const t of killTimers) clearTimeout(t);
    step.signal?.removeEventListener('abort', onAbort);
    // Whatever the leader left behind in its group goes with it.
    if (ended !== undefined || result.isMaxBuffer) signalGroup(subprocess.pid, 'SIGKILL');
    const base = {
      host: label,
      step: step.step,
      command,
      stdout: typeof result.stdout === 'string' ? result.stdout : '',
      stderr: typeof result.stderr === 'string' ? result.stderr : '',
      durationMs: Math.round(result.durationMs),
    };
    const failure: CommandFailure | undefined =
      ended ??
      (result.isMaxBuffer
        ? 'output-limit'
        : result.failed && result.exitCode === undefined && result.signal === undefined
          ? 'local'
          : undefined);
    if (failure) {
      throw new CommandError({
        ...base,
        reason: failure,
        exitCode: null,
        signal: result.signal ?? null,
        ...(failure === 'timeout' ? { timeoutMs } : {}),
        ...(failure === 'output-limit' ? { limit: { stream: biggerStream(base), bytes: maxBytes } } : {}),
        cause: result.cause ?? result,
      });
    }
    return requireSuccess({ ...base, exitCode: result.exitCode ?? null, signal: result.signal ?? null });
  }
}

// Signals every process of the group led by `pid`; a group that is gone already is fine.
function signalGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: nothing left to signal.
  }
}

// execa does not say which stream passed maxBuffer: the longer one did.
function biggerStream(output: { stdout: string; stderr: string }): 'stdout' | 'stderr' {
  return output.stderr.length > output.stdout.length ? 'stderr' : 'stdout';
}
