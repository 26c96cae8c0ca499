// What actions are given to run host commands: the HostRunner interface and its types (no implementation here).

// One command of a plan: argv (never a shell string), optional stdin, its own timeout and environment.
export interface RemoteStep {
  // A short name for messages, e.g. "create domain".
  readonly step: string;
  readonly argv: readonly string[];
  // Large inputs (domain XML) travel here, never in argv.
  readonly stdin?: string | Buffer;
  // Default: COMMAND_TIMEOUT.
  readonly timeoutSeconds?: number;
  // Added after LC_ALL=C.
  readonly env?: Readonly<Record<string, string>>;
  // Aborting kills the command.
  readonly signal?: AbortSignal;
  // When the request behind this step was made (ms since the epoch): if the host failed to connect
  // after that, the step fails at once with that failure instead of waiting out another attempt.
  readonly requestedAt?: number;
  // False: never re-run on a transport failure (a migration is not repeated blindly).
  readonly retry?: boolean;
}

// A command that ran to the end. `exitCode` is null when a signal ended it.
export interface CommandResult {
  readonly host: string;
  readonly step: string;
  // The command line as sent (or as it would be typed, for a local command).
  readonly command: string;
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly durationMs: number;
}

// Runs steps on hosts. Resolves only when the command exits with 0; otherwise rejects with a CommandError
// (non-zero exit, signal, timeout, abort, too much output) or a TransportError (host not reachable).
export interface HostRunner {
  run(host: string, step: RemoteStep): Promise<CommandResult>;
}
