// Drives the real bin/one_vmm_exec as oned does: ARGUMENTS as ONE argv element, request lines on
// stdin, reply lines read from stdout and matched to their requests per VM id. Every stdout line
// is kept and checked against the protocol's grammar (SPEC §2.1), so a garbled or interleaved line
// shows up in `badLines`.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { performance } from 'node:perf_hooks';
import { actionEnv, ROOT } from './guest.js';
import type { TestbedInfo } from './testbed.js';

export const DRIVER = path.join(ROOT, 'bin', 'one_vmm_exec');

export interface DriverLine {
  readonly text: string;
  // performance.now() when the line was read.
  readonly at: number;
}

export interface Reply {
  readonly action: string;
  readonly ok: boolean;
  readonly vmid: string;
  readonly info: string;
  readonly line: string;
  // When the request was written and when its reply was read (performance.now()).
  readonly sentAt: number;
  readonly at: number;
  readonly elapsedMs: number;
  // LOG lines of this VM id read between the request and its reply.
  readonly logs: readonly string[];
}

interface Pending {
  readonly action: string;
  readonly vmid: string;
  readonly sentAt: number;
  readonly logs: string[];
  readonly resolve: (reply: Reply) => void;
}

export interface StartOptions {
  // oned's ARGUMENTS string, passed as one argv element.
  readonly args?: string;
  // Environment on top of the testbed's kvmrc (the environment beats the file).
  readonly env?: Readonly<Record<string, string>>;
}

const RESULT = /^([A-Z][A-Z0-9_]*) (SUCCESS|FAILURE) (-?\d+) (\S.*)$/;
const LOG = /^LOG ([IEWD]) (-?\d+) (\S.*)$/;
const INIT = /^INIT (SUCCESS|FAILURE) /;

export class DriverProcess {
  readonly child: ChildProcessWithoutNullStreams;
  readonly lines: DriverLine[] = [];
  // stdout lines that are no protocol line (garbled, interleaved, empty).
  readonly badLines: string[] = [];
  // Result lines that answer no request that was waiting (a second reply, or a reply to nothing).
  readonly unexpected: string[] = [];
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly pending = new Map<string, Pending[]>();
  private readonly lineWaiters: { test: (line: string) => boolean; resolve: (line: DriverLine) => void }[] =
    [];

  private constructor(child: ChildProcessWithoutNullStreams) {
    this.child = child;
    this.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    child.stdin.on('error', () => undefined);
    createInterface({ input: child.stdout, crlfDelay: Infinity }).on('line', (text) => this.onLine(text));
  }

  // Starts the driver (it connects to hosts lazily, on the first action).
  static start(tb: TestbedInfo, options: StartOptions = {}): DriverProcess {
    const child = spawn(DRIVER, [options.args ?? '-t 15 -r 0 kvm -p'], {
      // These payloads carry no file from oned: the driver translates the VM itself.
      env: actionEnv(tb, { DEPLOYMENT_SOURCE: 'onevmm', ...options.env }),
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    return new DriverProcess(child);
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error('one_vmm_exec did not start');
    return this.child.pid;
  }

  // Requests written and not answered yet.
  get waiting(): number {
    let n = 0;
    for (const list of this.pending.values()) n += list.length;
    return n;
  }

  // Sends INIT and waits for `INIT SUCCESS - -`.
  async init(timeoutMs = 10_000): Promise<void> {
    this.send('INIT');
    const line = await this.waitForLine((text) => INIT.test(text), timeoutMs, 'INIT reply');
    if (line.text !== 'INIT SUCCESS - -') throw new Error(`INIT answered ${JSON.stringify(line.text)}`);
  }

  send(line: string): void {
    this.child.stdin.write(`${line}\n`);
  }

  // Writes a request line (from requestLine()) and resolves with its reply; rejects when none comes
  // within timeoutMs (a test failure, not a hang).
  request(line: string, timeoutMs = 120_000): Promise<Reply> {
    const [action = '', vmid = ''] = line.trim().split(/\s+/);
    let timer: NodeJS.Timeout | undefined;
    const promise = new Promise<Reply>((resolve, reject) => {
      const list = this.pending.get(vmid) ?? [];
      const done = (reply: Reply): void => {
        clearTimeout(timer);
        resolve(reply);
      };
      list.push({ action, vmid, sentAt: performance.now(), logs: [], resolve: done });
      this.pending.set(vmid, list);
      timer = setTimeout(() => {
        reject(
          new Error(
            `one_vmm_exec: no ${action} reply for ${vmid} within ${timeoutMs} ms; stdout:\n${this.tail()}`,
          ),
        );
      }, timeoutMs);
    });
    this.send(line);
    return promise;
  }

  // Resolves with the first line (already read or still to come) that matches.
  waitForLine(test: (line: string) => boolean, timeoutMs: number, what = 'line'): Promise<DriverLine> {
    const seen = this.lines.find((line) => test(line.text));
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`one_vmm_exec: no ${what} within ${timeoutMs} ms; stdout so far:\n${this.tail()}`));
      }, timeoutMs);
      this.lineWaiters.push({
        test,
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
      });
    });
  }

  // The driver's resident set size in kB (VmRSS of /proc/<pid>/status).
  rssKb(): number {
    const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
    if (!match) throw new Error(`no VmRSS in /proc/${this.pid}/status`);
    return Number(match[1]);
  }

  // FINALIZE: the driver finishes its running actions and exits 0.
  async finalize(timeoutMs = 60_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.send('FINALIZE');
    return this.waitExit(timeoutMs);
  }

  // Kills the driver unless it already exited.
  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }

  // The last lines of stdout, for failure messages.
  tail(n = 20): string {
    return this.lines
      .slice(-n)
      .map((line) => line.text.slice(0, 300))
      .join('\n');
  }

  private async waitExit(timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(
        () => reject(new Error(`one_vmm_exec did not exit within ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private onLine(text: string): void {
    const line = { text, at: performance.now() };
    this.lines.push(line);
    const log = LOG.exec(text);
    const result = log ? null : RESULT.exec(text);
    if (log) {
      const vmid = log[2] ?? '';
      for (const pending of this.pending.get(vmid) ?? []) pending.logs.push(text);
    } else if (result) {
      this.settle(result, line);
    } else if (!INIT.test(text)) {
      this.badLines.push(text);
    }
    for (let i = this.lineWaiters.length - 1; i >= 0; i--) {
      const waiter = this.lineWaiters[i];
      if (waiter?.test(text)) {
        this.lineWaiters.splice(i, 1);
        waiter.resolve(line);
      }
    }
  }

  private settle(result: RegExpExecArray, line: DriverLine): void {
    const [, action = '', status = '', vmid = '', info = ''] = result;
    const list = this.pending.get(vmid) ?? [];
    const index = list.findIndex((pending) => pending.action === action);
    const pending = list[index];
    if (pending === undefined) {
      this.unexpected.push(line.text);
      return;
    }
    list.splice(index, 1);
    if (list.length === 0) this.pending.delete(vmid);
    pending.resolve({
      action,
      ok: status === 'SUCCESS',
      vmid,
      info,
      line: line.text,
      sentAt: pending.sentAt,
      at: line.at,
      elapsedMs: line.at - pending.sentAt,
      logs: pending.logs,
    });
  }
}
