// bin/one_vmm_exec as oned runs it: one long-lived process, requests on stdin, replies on stdout.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';

export const ROOT = path.join(import.meta.dirname, '..', '..');

export interface Reply {
  readonly action: string;
  readonly ok: boolean;
  readonly vmid: string;
  readonly info: string;
}

// `<VMM_DRIVER_ACTION_DATA>` with what CANCEL and POLL read: the host and the domain.
export function actionData(host: string, deployId: string): string {
  return `<VMM_DRIVER_ACTION_DATA><HOST>${host}</HOST><DEPLOY_ID>${deployId}</DEPLOY_ID></VMM_DRIVER_ACTION_DATA>`;
}

// Throws unless the prebuilt bundle the shims load is there.
export function requireBuild(): void {
  if (!existsSync(path.join(ROOT, 'dist', 'one_vmm_exec.mjs'))) {
    throw new Error('dist/one_vmm_exec.mjs is missing: run `node scripts/build.mjs` first');
  }
}

export class Driver {
  private readonly child: ChildProcessWithoutNullStreams;
  // Waiters by vmid (every request in flight has its own vmid).
  private readonly waiting = new Map<string, (reply: Reply) => void>();
  private initWaiter: ((line: string) => void) | undefined;
  private readonly exited: Promise<number | null>;
  logLines = 0;
  readonly stray: string[] = [];

  private constructor(child: ChildProcessWithoutNullStreams) {
    this.child = child;
    this.exited = new Promise((resolve) => child.on('close', resolve));
    child.stderr.on('data', () => undefined);
    createInterface({ input: child.stdout }).on('line', (line) => this.onLine(line));
  }

  // Starts the driver with oned's ARGUMENTS (one argv element) and answers INIT; `executable` and
  // `argv` run another driver (OpenNebula's, which takes its arguments as words).
  static async start(
    args: string,
    env: NodeJS.ProcessEnv,
    executable?: { readonly path: string; readonly argv: readonly string[]; readonly cwd?: string },
  ): Promise<Driver> {
    if (executable === undefined) requireBuild();
    const child = spawn(
      executable?.path ?? path.join(ROOT, 'bin', 'one_vmm_exec'),
      executable?.argv ?? [args],
      {
        env,
        stdio: 'pipe',
        ...(executable?.cwd === undefined ? {} : { cwd: executable.cwd }),
      },
    );
    const driver = new Driver(child);
    const init = await new Promise<string>((resolve, reject) => {
      driver.initWaiter = resolve;
      child.on('error', reject);
      child.on('close', (code) => reject(new Error(`one_vmm_exec exited ${code} before INIT`)));
      child.stdin.write('INIT\n');
    });
    if (!init.startsWith('INIT SUCCESS')) throw new Error(`one_vmm_exec: INIT answered '${init}'`);
    return driver;
  }

  private onLine(line: string): void {
    if (line.startsWith('INIT ')) {
      this.initWaiter?.(line);
      this.initWaiter = undefined;
      return;
    }
    if (line.startsWith('LOG ')) {
      this.logLines++;
      return;
    }
    const [action = '', result = '', vmid = '', ...info] = line.split(' ');
    const waiter = this.waiting.get(vmid);
    if (waiter === undefined || (result !== 'SUCCESS' && result !== 'FAILURE')) {
      this.stray.push(line);
      return;
    }
    this.waiting.delete(vmid);
    waiter({ action, ok: result === 'SUCCESS', vmid, info: info.join(' ') });
  }

  // Sends requests (in one write) and resolves with their replies, in request order.
  send(requests: readonly { action: string; vmid: string; data: string }[]): Promise<Reply[]> {
    const replies = requests.map(
      ({ vmid }) =>
        new Promise<Reply>((resolve) => {
          if (this.waiting.has(vmid)) throw new Error(`vmid ${vmid} is already in flight`);
          this.waiting.set(vmid, resolve);
        }),
    );
    this.child.stdin.write(
      requests
        .map(({ action, vmid, data }) => `${action} ${vmid} ${Buffer.from(data).toString('base64')}\n`)
        .join(''),
    );
    return Promise.all(replies);
  }

  async request(action: string, vmid: string, data: string): Promise<Reply> {
    return (await this.send([{ action, vmid, data }]))[0]!;
  }

  // FINALIZE: the driver finishes what runs and exits.
  async finalize(): Promise<void> {
    this.child.stdin.end('FINALIZE\n');
    const timer = setTimeout(() => this.child.kill('SIGTERM'), 10_000);
    await this.exited;
    clearTimeout(timer);
  }
}
