// Test helper: a real OpenSSH sshd on 127.0.0.1 and a free port, with its own host key and one client key.
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { generateKey } from './ssh-keys.js';
import type { TestKey } from './ssh-keys.js';

export const SSHD = '/usr/sbin/sshd';

export interface TestSshd {
  readonly dir: string;
  readonly port: number;
  readonly user: string;
  readonly hostKey: TestKey;
  readonly clientKey: TestKey;
  // The sshd listener's pid (per-connection children are its children).
  pid(): number;
  // Stops sshd (dropping its connections) until resume().
  pause(): Promise<void>;
  // Starts it again on the same port.
  resume(): Promise<void>;
  // Kills the per-connection sshd processes, which drops every open connection.
  dropConnections(): void;
  log(): string;
  stop(): Promise<void>;
}

// Why a test suite cannot run sshd here, or undefined when it can.
export function sshdUnavailable(): string | undefined {
  if (!existsSync(SSHD)) return `${SSHD} is missing (apt-get install -y -q openssh-server)`;
  if (process.getuid?.() !== 0) return 'sshd tests need root (sshd privilege separation)';
  return undefined;
}

export async function startSshd(): Promise<TestSshd> {
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 }); // sshd's privilege separation directory
  const dir = mkdtempSync(path.join(tmpdir(), 'onevmm-sshd-'));
  const hostKey = generateKey(dir, 'host_ed25519');
  const clientKey = generateKey(dir, 'client_ed25519');
  writeFileSync(path.join(dir, 'authorized_keys'), `${clientKey.publicLine}\n`);
  const port = await freePort();
  const config = path.join(dir, 'sshd_config');
  writeFileSync(
    config,
    [
      `ListenAddress 127.0.0.1`,
      `Port ${port}`,
      `HostKey ${hostKey.privateFile}`,
      `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
      `PidFile ${path.join(dir, 'sshd.pid')}`,
      'UsePAM no',
      'StrictModes no',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
      'MaxSessions 50',
      'MaxStartups 50',
      'LogLevel VERBOSE',
      '',
    ].join('\n'),
  );
  execFileSync(SSHD, ['-t', '-f', config]);
  const logFile = path.join(dir, 'sshd.log');
  let child: ChildProcess = await launch(config, logFile, port);
  const dropConnections = (): void => {
    for (const pid of childPids(child.pid ?? -1)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  };
  return {
    dir,
    port,
    user: userInfo().username,
    hostKey,
    clientKey,
    pid: () => child.pid ?? -1,
    async pause() {
      dropConnections();
      await terminate(child);
    },
    async resume() {
      child = await launch(config, logFile, port);
    },
    dropConnections,
    log: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''),
    async stop() {
      dropConnections();
      await terminate(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function launch(config: string, logFile: string, port: number): Promise<ChildProcess> {
  const child = spawn(SSHD, ['-D', '-f', config, '-E', logFile], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    if (await accepts(port)) return child;
    if (child.exitCode !== null) break;
    await sleep(50);
  }
  child.kill('SIGKILL');
  throw new Error(
    `sshd did not start on port ${port}: ${existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''}`,
  );
}

async function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await Promise.race([exited, sleep(2000)]);
}

// The pids whose parent is `pid`, read from /proc.
export function childPids(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after the command name (which may hold spaces) start after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) children.push(Number(entry));
    } catch {
      // the process ended meanwhile
    }
  }
  return children;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

// A port nothing listens on right now.
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
