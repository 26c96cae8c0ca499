// A HostRunner for unit tests of actions: records the exact command lines and answers from a script.
import { CommandError, requireSuccess } from './errors.js';
import { buildStepCommand } from './remote-command.js';
import type { CommandResult, HostRunner, RemoteStep } from './runner.js';

export interface FakeCall {
  readonly host: string;
  readonly step: RemoteStep;
  // The command line SshRunner would send.
  readonly command: string;
}

// What a scripted command does: exit with this output (exitCode 0 by default), throw this error, or compute it.
export type FakeReply =
  | {
      readonly stdout?: string;
      readonly stderr?: string;
      readonly exitCode?: number;
      readonly signal?: string;
    }
  | Error
  | ((call: FakeCall) => FakeReply | Promise<FakeReply>);

// Which calls a reply is for: a substring of the command line, a pattern, or a test.
export type FakeMatch = string | RegExp | ((call: FakeCall) => boolean);

export interface FakeRunnerOptions {
  readonly commandTimeoutSeconds?: number;
  // The reply to calls no script matches; by default they fail the test with an error naming the command.
  readonly fallback?: FakeReply;
}

export class FakeRunner implements HostRunner {
  readonly calls: FakeCall[] = [];
  private readonly scripts: { match: FakeMatch; replies: FakeReply[] }[] = [];
  private readonly options: FakeRunnerOptions;

  constructor(options: FakeRunnerOptions = {}) {
    this.options = options;
  }

  // Answers matching calls with the replies in turn; the last one repeats. Earlier scripts win.
  reply(match: FakeMatch, ...replies: FakeReply[]): this {
    if (replies.length === 0) throw new Error('FakeRunner.reply needs at least one reply');
    this.scripts.push({ match, replies });
    return this;
  }

  // The command lines run so far, in order (optionally only those for one host).
  commands(host?: string): string[] {
    return this.calls.filter((call) => host === undefined || call.host === host).map((call) => call.command);
  }

  async run(host: string, step: RemoteStep): Promise<CommandResult> {
    const command = buildStepCommand(step, { timeoutSeconds: this.options.commandTimeoutSeconds ?? 60 });
    const call = { host, step, command };
    this.calls.push(call);
    if (step.signal?.aborted) {
      throw new CommandError({
        ...resultOf(call, {}),
        reason: 'cancelled',
        exitCode: null,
        cause: step.signal.reason,
      });
    }
    let reply = this.next(call);
    while (typeof reply === 'function') reply = await reply(call);
    if (reply instanceof Error) throw reply;
    return requireSuccess(resultOf(call, reply));
  }

  private next(call: FakeCall): FakeReply {
    const script = this.scripts.find(({ match }) =>
      typeof match === 'string'
        ? call.command.includes(match)
        : match instanceof RegExp
          ? match.test(call.command)
          : match(call),
    );
    if (!script) {
      return (
        this.options.fallback ?? new Error(`FakeRunner: no reply scripted for ${call.host}: ${call.command}`)
      );
    }
    return script.replies.length > 1
      ? (script.replies.shift() as FakeReply)
      : (script.replies[0] as FakeReply);
  }
}

function resultOf(
  call: FakeCall,
  reply: { stdout?: string; stderr?: string; exitCode?: number; signal?: string },
): CommandResult {
  return {
    host: call.host,
    step: call.step.step,
    command: call.command,
    exitCode: reply.signal === undefined ? (reply.exitCode ?? 0) : null,
    signal: reply.signal ?? null,
    stdout: reply.stdout ?? '',
    stderr: reply.stderr ?? '',
    durationMs: 0,
  };
}
