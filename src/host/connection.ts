// One ssh2 connection to one host, opened on first use, shared by every command, reopened after it drops,
// with at most maxChannels commands at once.
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import type { Client } from 'ssh2';
import { execOnClient } from './channel-exec.js';
import { CommandError, TransportError } from './errors.js';
import type { CommandResult } from './runner.js';
import { Semaphore } from './semaphore.js';
import { defaultIo, openClient } from './ssh-connect.js';
import type { ConnectOptions, ConnectionIo } from './ssh-connect.js';

export type { ConnectionIo } from './ssh-connect.js';

export interface HostConnectionOptions extends ConnectOptions {
  // Cap on each of stdout and stderr of one command (default 16 MiB).
  readonly maxOutputBytes?: number;
}

export interface RunOptions {
  readonly step: string;
  readonly timeoutMs: number;
  readonly stdin?: string | Buffer | Readable;
  readonly signal?: AbortSignal;
  // See RemoteStep.requestedAt.
  readonly requestedAt?: number;
}

export const DEFAULT_MAX_OUTPUT_BYTES = 16 * 1024 * 1024;

interface Session {
  readonly client: Client;
  readonly ready: Promise<Client>;
}

export class HostConnection {
  readonly options: HostConnectionOptions;
  private readonly io: ConnectionIo;
  private readonly channels: Semaphore;
  private session: Session | undefined;
  private lastFailure: { readonly at: number; readonly error: TransportError } | undefined;
  private opened = 0;

  constructor(options: HostConnectionOptions, io: ConnectionIo = defaultIo) {
    this.options = options;
    this.io = io;
    this.channels = new Semaphore(options.maxChannels);
  }

  // How many SSH connections this object has opened so far (1 while the first one lives).
  get connectionCount(): number {
    return this.opened;
  }

  // True while a connection is open or being opened.
  get connected(): boolean {
    return this.session !== undefined;
  }

  // Commands running now (open channels) and waiting for a channel.
  get load(): { running: number; waiting: number } {
    return { running: this.channels.active, waiting: this.channels.pending };
  }

  // Runs a command line (already quoted) and resolves with its result, whatever its exit code.
  async run(command: string, options: RunOptions): Promise<CommandResult> {
    const started = performance.now();
    const cancelled = (cause?: unknown): CommandError =>
      new CommandError({
        host: this.options.host,
        step: options.step,
        command,
        reason: 'cancelled',
        exitCode: null,
        signal: null,
        stdout: '',
        stderr: '',
        durationMs: Math.round(performance.now() - started),
        cause,
      });
    if (options.signal?.aborted) throw cancelled(options.signal.reason);
    const release = await this.channels.acquire(options.signal).catch((reason: unknown) => {
      throw cancelled(reason);
    });
    try {
      const client = await untilAborted(
        this.connect(options.step, options.requestedAt),
        options.signal,
        cancelled,
      );
      return await execOnClient(client, {
        host: this.options.host,
        step: options.step,
        command,
        timeoutMs: options.timeoutMs,
        maxOutputBytes: this.options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES,
        ...(options.stdin === undefined ? {} : { stdin: options.stdin }),
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } finally {
      release();
    }
  }

  // Closes the connection (running commands fail); a later run() opens a new one.
  async close(): Promise<void> {
    const session = this.session;
    this.session = undefined;
    if (!session) return;
    const closed = new Promise<void>((resolve) => {
      session.client.once('close', () => resolve());
      setTimeout(resolve, 1000).unref();
    });
    session.client.end();
    await closed;
    session.client.destroy();
  }

  // The ready client, connecting if there is none. A command requested before the host's last
  // failed connect fails at once with that failure, so queued commands do not each wait out the
  // timeout again; a command requested later makes a fresh attempt.
  private connect(step: string, requestedAt: number | undefined): Promise<Client> {
    if (this.session) return this.session.ready;
    if (this.lastFailure !== undefined && requestedAt !== undefined && requestedAt <= this.lastFailure.at) {
      return Promise.reject(this.lastFailure.error);
    }
    const session = openClient(this.options, this.io, step);
    this.session = session;
    this.opened++;
    // A connection that failed or ended is forgotten, so that the next command opens a new one.
    const forget = (): void => {
      if (this.session === session) this.session = undefined;
    };
    session.ready.then(
      () => (this.lastFailure = undefined),
      (error: unknown) => {
        forget();
        // Any failure to get a ready connection (unreachable, timed out, refused, host key, auth).
        if (error instanceof TransportError) this.lastFailure = { at: Date.now(), error };
      },
    );
    session.client.on('error', forget).on('end', forget).on('close', forget);
    return session.ready;
  }
}

// Waits for `promise` unless the signal aborts first (the promise itself goes on: the connection is shared).
function untilAborted<T>(
  promise: Promise<T>,
  signal: AbortSignal | undefined,
  onAbort: (reason: unknown) => Error,
): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(onAbort(signal.reason));
  return new Promise<T>((resolve, reject) => {
    const abort = (): void => reject(onAbort(signal.reason));
    signal.addEventListener('abort', abort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', abort);
        resolve(value);
      },
      (error: Error) => {
        signal.removeEventListener('abort', abort);
        reject(error);
      },
    );
  });
}
