// One ssh2 connection to one host, opened on first use, shared by every command, reopened after it drops,
// with at most maxChannels channels at once: commands with a process of their own, and virsh shells.
import { performance } from 'node:perf_hooks';
import { setTimeout as sleepMs } from 'node:timers/promises';
import type { Readable } from 'node:stream';
import type { Client } from 'ssh2';
import { execOnClient } from './channel-exec.js';
import { CommandError, TransportError } from './errors.js';
import type { CommandResult } from './runner.js';
import { Semaphore } from './semaphore.js';
import { defaultIo, openClient } from './ssh-connect.js';
import {
  SHELL_LIFETIME_SECONDS,
  ShellLost,
  ShellUnavailable,
  VirshShell,
  mayRerun,
  shellCommandText,
} from './virsh-shell.js';
import type { ShellCommand } from './virsh-shell.js';
import type { ConnectOptions, ConnectionIo, OpeningClient } from './ssh-connect.js';

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

// A shell nobody used for this long is closed (its virsh exits, its channel is freed).
const SHELL_IDLE_MS = 30_000;
// How long close() waits for kills still on their way to the host.
const KILL_GRACE_MS = 2000;
// After a shell could not start (no virsh, libvirtd down), commands run as processes for this long.
const SHELL_BACKOFF_MS = 10_000;

export class HostConnection {
  readonly options: HostConnectionOptions;
  private readonly io: ConnectionIo;
  private readonly channels: Semaphore;
  private session: OpeningClient | undefined;
  private lastFailure: { readonly at: number; readonly error: TransportError } | undefined;
  private opened = 0;
  // Every live shell, the idle ones (most recently used last) and the commands waiting for one.
  private readonly shells = new Set<VirshShell>();
  private readonly idleShells: VirshShell[] = [];
  private readonly shellWaiters: ((shell: VirshShell | undefined) => void)[] = [];
  private shellsOffUntil = 0;
  // Kills of shells' processes on their way to the host.
  private readonly kills = new Set<Promise<void>>();

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

  // Runs a short virsh command in one of the host's shells (at most options.virshShells); resolves with
  // its result whatever virsh said, or with undefined when no shell can be had (then the caller runs the
  // command as its own process). A shell that dies under the command rejects with a TransportError.
  async runInShell(command: ShellCommand, options: RunOptions): Promise<CommandResult | undefined> {
    if (this.options.virshShells <= 0 || Date.now() < this.shellsOffUntil) return undefined;
    const cancelled = (cause?: unknown): CommandError =>
      new CommandError({
        host: this.options.host,
        step: options.step,
        command: shellCommandText(command),
        reason: 'cancelled',
        exitCode: null,
        signal: null,
        stdout: '',
        stderr: '',
        durationMs: 0,
        cause,
      });
    const client = await untilAborted(
      this.connect(options.step, options.requestedAt),
      options.signal,
      cancelled,
    );
    // A command longer than a shell lives runs as a process of its own.
    if (options.timeoutMs + 20_000 > SHELL_LIFETIME_SECONDS * 1000) return undefined;
    const started = performance.now();
    let shell: VirshShell | undefined;
    try {
      shell = await this.takeShell(client, command.uri, options.timeoutMs, options.signal, cancelled);
    } catch (error) {
      if (!(error instanceof ShellUnavailable)) throw error;
      // libvirtd did not let virsh connect within the command's time limit: the command timed out.
      throw new CommandError({
        host: this.options.host,
        step: options.step,
        command: shellCommandText(command),
        reason: 'timeout',
        timeoutMs: options.timeoutMs,
        exitCode: null,
        signal: null,
        stdout: '',
        stderr: `virsh shell: ${error.message}`,
        durationMs: Math.round(performance.now() - started),
      });
    }
    if (shell === undefined) return undefined;
    try {
      return await shell.run({
        host: this.options.host,
        step: options.step,
        command,
        // What is left of the command's time after waiting for a shell (a second at least).
        timeoutMs: Math.max(1000, options.timeoutMs - (performance.now() - started)),
        maxOutputBytes: this.options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES,
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } catch (error) {
      // The shell died under the command while the connection lives (killed on the host, or dead before
      // the command reached it): a command that may run twice runs again as a process of its own.
      if (error instanceof ShellLost && mayRerun(command) && this.session?.client() === client)
        return undefined;
      throw error;
    } finally {
      this.giveBack(shell);
    }
  }

  // An idle shell, a new one when a channel is free, else the next one to come free; undefined when
  // there is none to wait for or a new one could not start.
  private async takeShell(
    client: Client,
    uri: string,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    cancelled: (cause?: unknown) => Error,
  ): Promise<VirshShell | undefined> {
    for (;;) {
      // Shells too old for this command end now (a new one is started below).
      for (const shell of this.idleShells.filter((s) => !s.fitsIn(timeoutMs))) shell.close();
      const idle = this.idleShells.findLastIndex((shell) => shell.uri === uri && shell.alive);
      const found = idle >= 0 ? this.idleShells.splice(idle, 1)[0] : undefined;
      if (found !== undefined) {
        found.onIdle(false);
        return found;
      }
      const release = this.shells.size < this.options.virshShells ? this.channels.tryAcquire() : undefined;
      if (release !== undefined) return this.startShell(client, uri, timeoutMs, release);
      if (this.shells.size === 0) return undefined;
      if (signal?.aborted) throw cancelled(signal.reason);
      const shell = await new Promise<VirshShell | undefined>((resolve, reject) => {
        const waiter = (handed: VirshShell | undefined): void => {
          signal?.removeEventListener('abort', onAbort);
          resolve(handed);
        };
        const onAbort = (): void => {
          const at = this.shellWaiters.indexOf(waiter);
          if (at >= 0) this.shellWaiters.splice(at, 1);
          reject(cancelled(signal?.reason));
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        this.shellWaiters.push(waiter);
      });
      if (shell?.fitsIn(timeoutMs) === true) return shell;
      shell?.close();
    }
  }

  private async startShell(
    client: Client,
    uri: string,
    timeoutMs: number,
    release: () => void,
  ): Promise<VirshShell | undefined> {
    const shell = new VirshShell(client, this.options.host, uri);
    let timer: NodeJS.Timeout | undefined;
    shell.onGone = () => {
      clearTimeout(timer);
      this.shells.delete(shell);
      const at = this.idleShells.indexOf(shell);
      if (at >= 0) this.idleShells.splice(at, 1);
      release();
      // Someone waiting for a shell may now start one (or run as a process).
      this.shellWaiters.shift()?.(undefined);
    };
    shell.onKill = (kill) => {
      this.kills.add(kill);
      void kill.finally(() => this.kills.delete(kill));
    };
    shell.onIdle = (idle) => {
      clearTimeout(timer);
      if (idle) timer = setTimeout(() => shell.close(), SHELL_IDLE_MS).unref();
    };
    this.shells.add(shell);
    try {
      await shell.start(timeoutMs);
      return shell;
    } catch (error) {
      if (!(error instanceof ShellUnavailable) || error.timedOut) throw error;
      this.shellsOffUntil = Date.now() + SHELL_BACKOFF_MS;
      return undefined;
    }
  }

  // A shell back from a command: to the next waiter, closed when a command waits for its channel, or idle.
  private giveBack(shell: VirshShell): void {
    if (!shell.alive) return;
    if (this.channels.pending > 0) return shell.close();
    const waiter = this.shellWaiters.shift();
    if (waiter !== undefined) return waiter(shell);
    this.idleShells.push(shell);
    shell.onIdle(true);
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
    // Every channel taken: an idle shell gives its own up.
    if (this.channels.active >= this.channels.limit) this.idleShells.shift()?.close();
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
    for (const shell of [...this.shells]) shell.close();
    if (!session) return;
    // A killed shell's virsh may be stuck (libvirtd frozen): its kill must reach the host first.
    if (this.kills.size > 0)
      await Promise.race([Promise.all(this.kills), sleepMs(KILL_GRACE_MS, undefined, { ref: false })]);
    const client = session.client();
    if (client === undefined) return session.destroy();
    const closed = new Promise<void>((resolve) => {
      client.once('close', () => resolve());
      setTimeout(resolve, 1000).unref();
    });
    client.end();
    await closed;
    client.destroy();
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
      (client) => {
        this.lastFailure = undefined;
        client.on('error', forget).on('end', forget).on('close', forget);
      },
      (error: unknown) => {
        forget();
        // Any failure to get a ready connection (unreachable, timed out, refused, host key, auth).
        if (error instanceof TransportError) this.lastFailure = { at: Date.now(), error };
      },
    );
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
