// The errors of host/: a remote or local command that failed, and a connection that could not be used.
import { OnevmmError, type ErrorCode } from '../util/errors.js';
import type { CommandResult } from './runner.js';

// The codes host/ errors carry (a subset of ErrorCode).
export type HostErrorCode = Extract<ErrorCode, 'COMMAND' | 'TRANSPORT' | 'TIMEOUT' | 'CANCELLED'>;

// Why a command did not succeed: a non-zero exit, a signal, the local timeout, an abort, too much output,
// or a local problem (a program that could not be started, a stdin stream that failed).
export type CommandFailure = 'exit' | 'signal' | 'timeout' | 'cancelled' | 'output-limit' | 'local';

export interface CommandErrorDetails {
  readonly host: string;
  readonly step: string;
  // The command line as sent to the host (quoted), or as it would be typed for a local command.
  readonly command: string;
  readonly reason: CommandFailure;
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly durationMs: number;
  // Set for timeouts: the limit that was hit.
  readonly timeoutMs?: number;
  // Set for output-limit: the stream and its cap.
  readonly limit?: { readonly stream: 'stdout' | 'stderr'; readonly bytes: number };
  readonly cause?: unknown;
}

// A command ran (or was started) on a host and did not succeed.
export class CommandError extends OnevmmError {
  readonly hostCode: HostErrorCode;
  readonly host: string;
  readonly step: string;
  readonly command: string;
  readonly reason: CommandFailure;
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly durationMs: number;
  readonly timeoutMs: number | undefined;

  constructor(details: CommandErrorDetails) {
    const hostCode = hostCodeOf(details.reason);
    super(hostCode, formatCommandFailure(details), { cause: details.cause });
    this.name = 'CommandError';
    this.hostCode = hostCode;
    this.host = details.host;
    this.step = details.step;
    this.command = details.command;
    this.reason = details.reason;
    this.exitCode = details.exitCode;
    this.signal = details.signal;
    this.stdout = details.stdout;
    this.stderr = details.stderr;
    this.durationMs = details.durationMs;
    this.timeoutMs = details.timeoutMs;
  }
}

// What part of reaching a host failed.
export type TransportFailure = 'connect' | 'host-key' | 'auth' | 'channel' | 'lost';

export interface TransportErrorDetails {
  // The name the caller used (e.g. tb-h1).
  readonly host: string;
  // Where it points after ~/.ssh/config (e.g. 10.77.0.11), when different.
  readonly target?: string;
  readonly failure: TransportFailure;
  // The step that was running or waiting, if any.
  readonly step?: string;
  readonly cause?: unknown;
}

// A host could not be reached or the connection broke: the command may not have run.
export class TransportError extends OnevmmError {
  readonly hostCode: HostErrorCode = 'TRANSPORT';
  readonly host: string;
  readonly target: string | undefined;
  readonly failure: TransportFailure;
  readonly step: string | undefined;

  constructor(details: TransportErrorDetails, message: string) {
    super('TRANSPORT', message, { cause: details.cause });
    this.name = 'TransportError';
    this.host = details.host;
    this.target = details.target;
    this.failure = details.failure;
    this.step = details.step;
  }
}

// "tb-h1 (10.77.0.11)", or just "tb-h1" when the name is the address.
export function describeHost(host: string, target?: string): string {
  return target === undefined || target === host ? host : `${host} (${target})`;
}

function hostCodeOf(reason: CommandFailure): HostErrorCode {
  if (reason === 'timeout') return 'TIMEOUT';
  if (reason === 'cancelled') return 'CANCELLED';
  return 'COMMAND';
}

// `<step> failed on <host>: exit code 1: error: Failed to …; error: …`
function formatCommandFailure(d: CommandErrorDetails): string {
  switch (d.reason) {
    case 'timeout':
      return `${d.step} timed out on ${d.host} after ${formatMs(d.timeoutMs ?? d.durationMs)}`;
    case 'cancelled':
      return `${d.step} cancelled on ${d.host}`;
    case 'output-limit': {
      const limit = d.limit ?? { stream: 'stdout', bytes: 0 };
      return `${d.step} failed on ${d.host}: ${limit.stream} exceeded ${formatBytes(limit.bytes)}`;
    }
    case 'local':
      return `${d.step} failed on ${d.host}: ${causeMessage(d.cause)}`;
    case 'signal':
    case 'exit': {
      // 124/137: the host's own `timeout` stopped the command (COMMAND_TIMEOUT).
      if (d.exitCode === 124 || d.exitCode === 137) {
        return `${d.step} timed out on ${d.host}: stopped by \`timeout\` on the host (exit code ${d.exitCode})`;
      }
      const how = d.exitCode === null ? `killed by ${d.signal ?? 'a signal'}` : `exit code ${d.exitCode}`;
      const said = summarizeStderr(d.stderr);
      return `${d.step} failed on ${d.host}: ${how}${said === '' ? '' : `: ${said}`}`;
    }
  }
}

// What stderr says, in one line: virsh's `error: ` lines (the failed call, then libvirt's reason; at most
// three, joined with "; "), found even after noise from the host's shell startup files; else the first line.
export function summarizeStderr(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
  const start = lines.findIndex((line) => line.startsWith('error: '));
  if (start < 0) return lines[0] ?? '';
  const errors: string[] = [];
  for (const line of lines.slice(start, start + 3)) {
    if (!line.startsWith('error: ')) break;
    errors.push(line);
  }
  return errors.join('; ');
}

function causeMessage(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}

function formatBytes(bytes: number): string {
  return bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0
    ? `${bytes / (1024 * 1024)} MiB`
    : `${bytes} bytes`;
}

// Returns the result when the command exited with 0; otherwise throws the CommandError describing it.
export function requireSuccess(result: CommandResult): CommandResult {
  if (result.exitCode === 0) return result;
  throw new CommandError({ ...result, reason: result.exitCode === null ? 'signal' : 'exit' });
}
