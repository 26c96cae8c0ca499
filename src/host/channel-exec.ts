// Runs one command on an open ssh2 connection: an exec channel, stdin streamed then closed, bounded output,
// exit status, and a KILL when the local timeout fires or the caller aborts.
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import type { Client, ClientChannel } from 'ssh2';
import { CommandError, TransportError } from './errors.js';
import type { CommandErrorDetails, CommandFailure } from './errors.js';
import { PidReportFilter, killRemoteSession, withPidReport } from './remote-kill.js';
import type { CommandResult } from './runner.js';

export interface ExecRequest {
  readonly host: string;
  readonly step: string;
  readonly command: string;
  readonly stdin?: string | Buffer | Readable;
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
  // Cap on each of stdout and stderr.
  readonly maxOutputBytes: number;
}

// How long to wait for the server to confirm a killed channel closed before giving up on it.
const CLOSE_GRACE_MS = 2000;

// Resolves with the result once the channel closed (any exit code); rejects with CommandError on timeout,
// abort or too much output, and with TransportError when the channel cannot be opened or the connection dies.
export function execOnClient(client: Client, req: ExecRequest): Promise<CommandResult> {
  const started = performance.now();
  const stdout = new BoundedOutput(req.maxOutputBytes);
  const stderr = new BoundedOutput(req.maxOutputBytes);
  const pidReport = new PidReportFilter();
  const elapsed = (): number => Math.round(performance.now() - started);
  const base = { host: req.host, step: req.step, command: req.command };

  return new Promise<CommandResult>((resolve, reject) => {
    let channel: ClientChannel | undefined;
    let failure: CommandError | undefined;
    let done = false;
    const timer = setTimeout(() => stop('timeout'), req.timeoutMs);
    const onAbort = (): void => stop('cancelled');
    req.signal?.addEventListener('abort', onAbort, { once: true });

    const settle = (outcome: () => void): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req.signal?.removeEventListener('abort', onAbort);
      if (channel && req.stdin && typeof req.stdin === 'object' && 'unpipe' in req.stdin) {
        req.stdin.unpipe(channel);
      }
      outcome();
    };
    const lost = (failureKind: 'channel' | 'lost', message: string, cause?: unknown): void =>
      settle(() =>
        reject(
          failure ??
            new TransportError({ host: req.host, failure: failureKind, step: req.step, cause }, message),
        ),
      );

    // Kills the remote command once the channel is open and its session PID known; then closes the channel.
    const killWhenReady = (): void => {
      if (!failure || !channel) return;
      if (pidReport.pid === undefined) {
        signalChannel(channel); // enough for non-root logins; the PID may still arrive
        return;
      }
      void killRemoteSession(client, pidReport.pid);
      signalChannel(channel);
      channel.close();
    };

    const failed = (
      reason: CommandFailure,
      cause?: unknown,
      limit?: CommandErrorDetails['limit'],
    ): CommandError =>
      new CommandError({
        ...base,
        reason,
        exitCode: null,
        signal: null,
        stdout: stdout.text(),
        stderr: stderr.text(),
        durationMs: elapsed(),
        ...(reason === 'timeout' ? { timeoutMs: req.timeoutMs } : {}),
        ...(limit ? { limit } : {}),
        cause,
      });
    // Ends the command early; the promise settles when the channel closes (or after a grace period).
    const stop = (reason: CommandFailure, cause?: unknown, limit?: CommandErrorDetails['limit']): void => {
      if (failure || done) return;
      const error = (failure = failed(reason, cause, limit));
      killWhenReady();
      setTimeout(() => {
        channel?.close();
        settle(() => reject(error));
      }, CLOSE_GRACE_MS).unref();
    };

    if (req.signal?.aborted) {
      const error = failed('cancelled', req.signal.reason);
      return settle(() => reject(error));
    }

    const onChannel = (err: Error | undefined, ch: ClientChannel): void => {
      if (err)
        return lost('channel', `cannot open a channel on ${req.host} for ${req.step}: ${err.message}`, err);
      channel = ch;
      let exit: { exitCode: number | null; signal: string | null } | undefined;
      let streamsOpen = 2;
      const onStreamDone = (): void => {
        if (--streamsOpen > 0) return;
        const error = failure;
        if (error) return settle(() => reject(error));
        const ended = exit;
        if (ended === undefined)
          return lost('lost', `connection to ${req.host} was lost while running ${req.step}`);
        const result = {
          ...base,
          ...ended,
          stdout: stdout.text(),
          stderr: stderr.text(),
          durationMs: elapsed(),
        };
        settle(() => resolve(result));
      };
      const keep = (output: BoundedOutput, stream: 'stdout' | 'stderr', chunk: Buffer): void => {
        if (!output.push(chunk)) stop('output-limit', undefined, { stream, bytes: req.maxOutputBytes });
      };
      ch.on('exit', (code: number | null | undefined, signal?: string) => {
        exit =
          typeof code === 'number'
            ? { exitCode: code, signal: null }
            : { exitCode: null, signal: signal ?? null };
      });
      ch.on('data', (chunk: Buffer) => keep(stdout, 'stdout', chunk));
      ch.stderr.on('data', (chunk: Buffer) => {
        const hadPid = pidReport.pid !== undefined;
        keep(stderr, 'stderr', pidReport.push(chunk));
        if (!hadPid && pidReport.pid !== undefined) killWhenReady();
      });
      ch.stderr.on('end', () => {
        keep(stderr, 'stderr', pidReport.flush());
        onStreamDone();
      });
      ch.on('close', onStreamDone);
      ch.on('error', (error: Error) => stop('local', error));
      if (failure)
        killWhenReady(); // stopped while the channel was opening
      else sendStdin(ch, req.stdin, (error) => stop('local', error));
    };

    try {
      client.exec(withPidReport(req.command), onChannel);
    } catch (error) {
      // ssh2 throws when the socket is already gone.
      lost(
        'channel',
        `cannot open a channel on ${req.host} for ${req.step}: ${(error as Error).message}`,
        error,
      );
    }
  });
}

function sendStdin(ch: ClientChannel, stdin: ExecRequest['stdin'], onError: (error: Error) => void): void {
  if (stdin === undefined) ch.end();
  else if (typeof stdin === 'string' || Buffer.isBuffer(stdin)) ch.end(stdin);
  else {
    stdin.once('error', onError);
    stdin.pipe(ch);
  }
}

// Asks the server to KILL the command (OpenSSH ≥ 7.9 does so for sessions with privilege separation).
function signalChannel(ch: ClientChannel): void {
  try {
    if (ch.writable) ch.signal('KILL');
    else sendSignalAfterEof(ch, 'KILL');
  } catch {
    // The connection is already gone: nothing left to signal.
  }
}

// ssh2's Channel.signal() is a no-op once stdin was ended (it checks `writable`), yet the SSH protocol allows
// signals until the channel closes. This reaches the same protocol call ssh2 itself makes (ssh2 1.x internals).
function sendSignalAfterEof(ch: ClientChannel, name: string): void {
  const internals = ch as unknown as {
    outgoing?: { id?: number; state?: string };
    _client?: { _protocol?: { signal?: (id: number, signal: string) => void } };
  };
  const protocol = internals._client?._protocol;
  const id = internals.outgoing?.id;
  if (internals.outgoing?.state === 'eof' && id !== undefined && typeof protocol?.signal === 'function') {
    protocol.signal(id, name);
  }
}

// Collects a stream up to a byte limit.
class BoundedOutput {
  private readonly chunks: Buffer[] = [];
  private size = 0;

  constructor(private readonly limit: number) {}

  // False (and nothing kept) when the chunk would pass the limit.
  push(chunk: Buffer): boolean {
    if (this.size + chunk.length > this.limit) return false;
    this.chunks.push(chunk);
    this.size += chunk.length;
    return true;
  }

  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}
