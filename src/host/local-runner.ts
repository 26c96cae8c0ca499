// A HostRunner that runs steps on this machine (the front-end) with execa: argv directly, no shell.
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
    const result = await execa(file, args, {
      env,
      extendEnv: true,
      reject: false,
      stripFinalNewline: false,
      timeout: timeoutMs,
      forceKillAfterDelay: (this.options.killAfterSeconds ?? DEFAULT_KILL_AFTER_SECONDS) * 1000,
      maxBuffer: maxBytes,
      ...(step.stdin === undefined ? { stdin: 'ignore' as const } : { input: step.stdin }),
      ...(step.signal ? { cancelSignal: step.signal } : {}),
    });
    const base = {
      host: label,
      step: step.step,
      command,
      stdout: typeof result.stdout === 'string' ? result.stdout : '',
      stderr: typeof result.stderr === 'string' ? result.stderr : '',
      durationMs: Math.round(result.durationMs),
    };
    const failure: CommandFailure | undefined = result.timedOut
      ? 'timeout'
      : result.isCanceled
        ? 'cancelled'
        : result.isMaxBuffer
          ? 'output-limit'
          : result.failed && result.exitCode === undefined && result.signal === undefined
            ? 'local'
            : undefined;
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

// execa does not say which stream passed maxBuffer: the longer one did.
function biggerStream(output: { stdout: string; stderr: string }): 'stdout' | 'stderr' {
  return output.stderr.length > output.stdout.length ? 'stderr' : 'stdout';
}
