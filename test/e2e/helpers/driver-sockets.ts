// Counts the SSH connections one process opens to a host, from /proc: the process's socket inodes
// (/proc/<pid>/fd) matched against the TCP table (/proc/<pid>/net/tcp). Other suites log in to the
// same hosts, so the hosts' sshd logs cannot tell whose login is whose; a process's own sockets can.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import type { ActionRun } from './guest.js';

// The TCP connections of pid to address:port, as local ports (`ADDR:PORT` hex as /proc shows it).
export function tcpConnections(pid: number, address: string, port = 22): Set<number> {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match?.[1]) inodes.add(match[1]);
    } catch {
      // closed meanwhile
    }
  }
  const remote = `${address
    .split('.')
    .map((octet) => Number(octet).toString(16).toUpperCase().padStart(2, '0'))
    .reverse()
    .join('')}:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const ports = new Set<number>();
  for (const line of readFileSync(`/proc/${pid}/net/tcp`, 'utf8').split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    const [, local, rem, , , , , , , inode] = fields;
    if (rem === remote && inode !== undefined && inodes.has(inode) && local !== undefined)
      ports.add(parseInt(local.split(':')[1] ?? '0', 16));
  }
  return ports;
}

// Samples a process's connections to address:22 every few ms until stopped; `ports` holds every local
// port seen. An SSH login takes far longer than the sampling period, so none is missed.
export class ConnectionWatch {
  readonly ports = new Set<number>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly pid: number,
    private readonly address: string,
    periodMs = 10,
  ) {
    this.timer = setInterval(() => this.sample(), periodMs);
    this.sample();
  }

  sample(): void {
    try {
      for (const port of tcpConnections(this.pid, this.address)) this.ports.add(port);
    } catch {
      // the process is gone
    }
  }

  stop(): Set<number> {
    this.sample();
    clearInterval(this.timer);
    return this.ports;
  }
}

// Runs a program (an action executable) and watches its SSH connections to address meanwhile.
export function runWatched(
  file: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  address: string,
  timeoutMs: number,
): Promise<ActionRun & { readonly ports: Set<number> }> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, [...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    if (child.pid === undefined) {
      child.on('error', reject);
      return;
    }
    const watch = new ConnectionWatch(child.pid, address);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      watch.stop();
      reject(error);
    });
    child.on('exit', () => watch.stop());
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ports: watch.stop() });
    });
  });
}
