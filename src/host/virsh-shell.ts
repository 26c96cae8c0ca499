// Long-lived `virsh` shells on a host: a short virsh command (domstate, destroy, domstats…) is written to
// a virsh that is already running and connected to libvirtd, instead of starting sshd's session, a shell,
// `timeout` and a new virsh that connects to libvirtd again. Measured on the testbed: a new virsh per
// `dominfo` costs ~24 ms of host CPU, the same command in a running virsh ~0.5 ms.
//
// virsh has no machine-readable framing of its interactive mode, so each command is followed by two
// markers: `echo --err @onevmm-<token>-N@` (stderr) and `echo @onevmm-<token>-N@` (stdout). virsh reads its input with
// readline, which echoes every line after the prompt on stdout; the prompt is learnt from a first marker.
// A command failed when its stderr has a line starting with `error:` (virsh prints every failure so; its
// exit status, which a shell does not give, is 1 exactly then in batch mode).
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Client, ClientChannel } from 'ssh2';
import { classifyOutput } from './classify.js';
import { CommandError, TransportError } from './errors.js';
import type { CommandFailure } from './errors.js';
import { quote } from './quote.js';
import { PidReportFilter, killRemoteSession, withPidReport } from './remote-kill.js';
import type { CommandResult, RemoteStep } from './runner.js';

// Commands that never read stdin, never prompt and take seconds at most (`create` starts QEMU: about as
// long as a `destroy`). Anything else (migrate, save, restore, attach-device…) keeps its own process,
// bounded by the host's `timeout`. `true`: the command may run twice with the same outcome, so when a
// shell dies under it (killed on the host, or found dead only once the command was written to it) it
// runs again as a process of its own. A second destroy finds the domain not running and a second
// shutdown sends the power button again, both of which their callers take as success.
const SHELL_COMMANDS = new Map<string, boolean>([
  ['create', false],
  ['destroy', true],
  ['domstate', true],
  ['dominfo', true],
  ['domuuid', true],
  ['domid', true],
  ['domname', true],
  ['domstats', true],
  ['dumpxml', true],
  ['domblklist', true],
  ['domiflist', true],
  ['domblkinfo', true],
  ['list', true],
  ['shutdown', true],
  ['reboot', false],
  ['reset', false],
  ['suspend', false],
  ['resume', false],
  ['snapshot-list', true],
  ['snapshot-current', true],
  ['snapshot-dumpxml', true],
  ['undefine', false],
]);

// True when the command may run again after its shell died under it.
export function mayRerun(command: ShellCommand): boolean {
  return SHELL_COMMANDS.get(command.line.split(' ', 1)[0] ?? '') === true;
}

export interface ShellCommand {
  readonly uri: string;
  // The line written to the shell, e.g. `destroy -- one-7`.
  readonly line: string;
}

// The shell line for a step, or undefined when the step must run as its own command: not a plain
// `virsh --connect <uri> <command> …`, a command not in the list, stdin or environment of its own, or a
// word quote() would have to quote (virsh's own parser then reads every word exactly as sh would), or
// libvirt's test driver (its domains live in each connection: a shell would keep a private frozen copy).
export function shellCommandOf(step: RemoteStep): ShellCommand | undefined {
  const [program, connect, uri, command, ...args] = step.argv;
  if (program !== 'virsh' || connect !== '--connect' || uri === undefined || command === undefined) return;
  if (uri.startsWith('test:')) return;
  if (!SHELL_COMMANDS.has(command) || step.stdin !== undefined) return;
  if (step.env !== undefined && Object.keys(step.env).length > 0) return;
  const words = [uri, command, ...args];
  if (!words.every((word) => word !== '' && quote(word) === word)) return;
  return { uri, line: [command, ...args].join(' ') };
}

// A shell lives at most this long on the host, whatever happens to this process or its connection (so
// that nothing it runs is left running, as `timeout` bounds every other command); it takes no command
// that could still run when that time is up.
export const SHELL_LIFETIME_SECONDS = 900;
const SHELL_KILL_AFTER_SECONDS = 5;

// The command line that starts a shell (as sent, before the PID report). TERM=dumb and no inputrc keep
// readline from writing terminal controls, and a wide screen from scrolling a long line as it echoes it.
export function shellStartCommand(uri: string): string {
  return (
    `LC_ALL=C TERM=dumb COLUMNS=100000 INPUTRC=/dev/null exec timeout --kill-after=${SHELL_KILL_AFTER_SECONDS}s ` +
    `${SHELL_LIFETIME_SECONDS}s virsh --connect ${quote(uri)}`
  );
}

// How a command run in a shell is named in results and errors.
export function shellCommandText(command: ShellCommand): string {
  return `virsh --connect ${command.uri} shell> ${command.line}`;
}

// Splits a shell's stdout and stderr into the output of each command (pure: fed bytes, no I/O). The
// markers carry a random token, so that no output (a domain's name, its XML) can fake one.
export class ShellFrames {
  private readonly token: string;
  private out = '';
  private err = '';
  private prompt: string | undefined;

  constructor(token: string = randomBytes(6).toString('hex')) {
    this.token = token;
  }

  private marker(n: number): string {
    return `@onevmm-${this.token}-${n}@`;
  }

  get ready(): boolean {
    return this.prompt !== undefined;
  }

  // Bytes of the shell's output so far not given to a command (bounds a runaway command).
  get buffered(): number {
    return this.out.length + this.err.length;
  }

  pushStdout(chunk: string): void {
    this.out += chunk;
  }

  pushStderr(chunk: string): void {
    this.err += chunk;
  }

  // The input that ends command `n` (both markers).
  markers(n: number): string {
    return `echo --err ${this.marker(n)}\necho ${this.marker(n)}\n`;
  }

  // After the start-up markers (n = 0): learns the prompt; true once done. Returns the start-up stderr
  // (libvirt's complaints when it cannot connect) through `errors`.
  takeStart(errors: { text: string }): boolean {
    const took = this.take(0);
    if (took === undefined) return false;
    errors.text = took.stderr;
    return true;
  }

  // Command `n`'s stdout and stderr once both of its markers arrived, else undefined.
  take(n: number, line?: string): { stdout: string; stderr: string } | undefined {
    const m = this.marker(n);
    const errEnd = this.err.indexOf(`error: ${m}\n`);
    if (errEnd < 0) return;
    const echo = `echo ${m}\n`;
    let outEnd = -1;
    for (let at = this.out.indexOf(echo); at >= 0; at = this.out.indexOf(echo, at + 1)) {
      if (this.out.startsWith(`${m}\n`, at + echo.length)) {
        outEnd = at;
        break;
      }
    }
    if (outEnd < 0) return;
    const lineStart = this.out.lastIndexOf('\n', outEnd) + 1;
    const prompt = this.out.slice(lineStart, outEnd);
    let stdout = this.out.slice(0, lineStart);
    this.out = this.out.slice(outEnd + echo.length + m.length + 1);
    const stderr = this.err.slice(0, errEnd);
    this.err = this.err.slice(errEnd + `error: ${m}\n`.length);
    if (line === undefined) {
      this.prompt = prompt;
      return { stdout: '', stderr };
    }
    // stdout: `<prompt><line>\n<output><prompt>echo --err <m>\n\n<prompt>echo <m>\n<m>\n`. The echo of
    // the line is not taken as typed: readline scrolls a line longer than the screen (`\r<…`); it ends
    // at the first newline all the same.
    stdout = stdout.slice(stdout.indexOf('\n') + 1);
    const tail = stdout.lastIndexOf(`${this.prompt}echo --err ${m}\n`);
    if (tail >= 0) stdout = stdout.slice(0, tail);
    return { stdout, stderr };
  }
}

export interface ShellRun {
  readonly host: string;
  readonly step: string;
  readonly command: ShellCommand;
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
  readonly maxOutputBytes: number;
}

// Why a shell could not be used: the command then runs as its own process, unless virsh did not even
// prompt within the command's own time limit (libvirtd hung): then the command timed out.
export class ShellUnavailable extends Error {
  constructor(
    message: string,
    readonly timedOut = false,
  ) {
    super(message);
  }
}

// The shell ended while a command was written to it (the command may or may not have run).
export class ShellLost extends TransportError {}

// What virsh says about its own connection, not about a command: when libvirtd restarted, the shell
// reports the loss when it happens and reconnects before the next command, which then runs normally.
const CONNECTION_NOTICES = /^error: (Disconnected from \S+ due to .*|Reconnected to the hypervisor)\n/gm;

// A command's result from its output in a shell: failed (1) when virsh printed an `error:` line about it.
export function outcomeOf(frame: { stdout: string; stderr: string }): {
  stdout: string;
  stderr: string;
  exitCode: 0 | 1;
} {
  const stderr = frame.stderr.replace(CONNECTION_NOTICES, '');
  return { stdout: frame.stdout, stderr, exitCode: /^error: /m.test(stderr) ? 1 : 0 };
}

// One virsh shell on one SSH channel; runs one command at a time.
export class VirshShell {
  readonly uri: string;
  private channel: ClientChannel | undefined;
  private readonly frames = new ShellFrames();
  private readonly pids = new PidReportFilter();
  private n = 0;
  private waiter: (() => void) | undefined;
  private closed = false;
  // Past this time (ms since the epoch) the host's `timeout` may end the shell.
  private readonly endsAt = Date.now() + SHELL_LIFETIME_SECONDS * 1000;
  // Called once when the shell is gone (closed, killed, or its channel ended).
  onGone: () => void = () => undefined;
  // Called with the kill of the shell's processes on the host, which the connection waits for before it
  // closes.
  onKill: (kill: Promise<void>) => void = () => undefined;
  // Called when the shell waits for work (true) and when it is taken again (false).
  onIdle: (idle: boolean) => void = () => undefined;

  constructor(
    private readonly client: Client,
    private readonly host: string,
    uri: string,
  ) {
    this.uri = uri;
  }

  get alive(): boolean {
    return !this.closed;
  }

  // True when a command with this time limit would end before the shell's lifetime on the host does
  // (with a margin for the clocks of both ends to disagree on when the shell started).
  fitsIn(timeoutMs: number): boolean {
    return Date.now() + timeoutMs + 10_000 < this.endsAt;
  }

  // Opens the channel and waits for virsh's first prompt; rejects with ShellUnavailable (with libvirt's
  // message when virsh could not connect), never with a command's error.
  start(timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const fail = (why: string, timedOut = false): void => {
        this.waiter = undefined;
        reject(new ShellUnavailable(why, timedOut));
        this.kill();
      };
      const timer = setTimeout(() => fail(`no virsh prompt after ${timeoutMs} ms`, true), timeoutMs);
      const errors = { text: '' };
      this.waiter = () => {
        if (this.closed) {
          clearTimeout(timer);
          return fail('virsh ended before its first prompt');
        }
        if (!this.frames.takeStart(errors)) return;
        clearTimeout(timer);
        this.waiter = undefined;
        if (/^error: /m.test(errors.text)) fail(errors.text.trim());
        else resolve();
      };
      try {
        this.client.exec(withPidReport(shellStartCommand(this.uri)), (error, channel) => {
          if (error) {
            clearTimeout(timer);
            this.closed = true;
            this.onGone();
            return reject(new ShellUnavailable(`cannot open a channel: ${error.message}`));
          }
          this.attach(channel);
          channel.write(this.frames.markers(0));
        });
      } catch (error) {
        clearTimeout(timer);
        this.closed = true;
        this.onGone();
        reject(new ShellUnavailable(`cannot open a channel: ${(error as Error).message}`));
      }
    });
  }

  private attach(channel: ClientChannel): void {
    this.channel = channel;
    channel.setEncoding('utf8');
    channel.stderr.setEncoding('utf8');
    channel.on('data', (chunk: string) => {
      this.frames.pushStdout(chunk);
      this.waiter?.();
    });
    channel.stderr.on('data', (chunk: string) => {
      this.frames.pushStderr(this.pids.push(Buffer.from(chunk)).toString('utf8'));
      this.waiter?.();
    });
    channel.on('error', () => this.gone());
    channel.on('close', () => this.gone());
  }

  private gone(): void {
    if (this.closed) return;
    this.closed = true;
    this.onGone();
    this.waiter?.();
  }

  // Runs one command; the result carries exit code 1 when virsh reported an error, else 0. A shell that
  // dies under a command rejects with TransportError; a timeout, an abort or too much output kill it.
  run(req: ShellRun): Promise<CommandResult> {
    const started = performance.now();
    const elapsed = (): number => Math.round(performance.now() - started);
    const command = shellCommandText(req.command);
    const n = ++this.n;
    return new Promise<CommandResult>((resolve, reject) => {
      let settled = false;
      const finish = (outcome: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        req.signal?.removeEventListener('abort', onAbort);
        this.waiter = undefined;
        outcome();
      };
      const stop = (reason: CommandFailure): void => {
        const error = new CommandError({
          host: req.host,
          step: req.step,
          command,
          reason,
          exitCode: null,
          signal: null,
          stdout: '',
          stderr: '',
          durationMs: elapsed(),
          ...(reason === 'timeout' ? { timeoutMs: req.timeoutMs } : {}),
          ...(reason === 'output-limit' ? { limit: { stream: 'stdout', bytes: req.maxOutputBytes } } : {}),
        });
        finish(() => reject(error));
        this.kill(); // after finish: the shell's end is not this command's failure
      };
      const timer = setTimeout(() => stop('timeout'), req.timeoutMs);
      const onAbort = (): void => stop('cancelled');
      if (req.signal?.aborted) return stop('cancelled');
      req.signal?.addEventListener('abort', onAbort, { once: true });
      this.waiter = () => {
        const frame = this.frames.take(n, req.command.line);
        if (frame !== undefined) {
          const took = outcomeOf(frame);
          const exitCode = took.exitCode;
          // libvirtd went away under this shell: the next command gets a new one.
          if (exitCode !== 0 && classifyOutput(took.stderr, exitCode) === 'transport') this.close();
          const result = { host: req.host, step: req.step, command, signal: null, ...took };
          return finish(() => resolve({ ...result, durationMs: elapsed() }));
        }
        if (this.closed) {
          const message = `virsh shell on ${req.host} ended while running ${req.step}`;
          return finish(() =>
            reject(new ShellLost({ host: req.host, failure: 'lost', step: req.step }, message)),
          );
        }
        if (this.frames.buffered > req.maxOutputBytes) stop('output-limit');
      };
      try {
        this.channel?.write(`${req.command.line}\n${this.frames.markers(n)}`);
      } catch {
        this.gone();
      }
      this.waiter();
    });
  }

  // Ends the shell: virsh exits at the end of its input.
  close(): void {
    if (this.closed) return;
    try {
      this.channel?.end();
    } catch {
      // already gone
    }
    this.gone();
  }

  // Kills virsh (and whatever it runs) on the host, then closes the channel.
  kill(): void {
    if (this.pids.pid !== undefined) this.onKill(killRemoteSession(this.client, this.pids.pid));
    try {
      this.channel?.close();
    } catch {
      // already gone
    }
    this.gone();
  }
}
