// Fault tests: the processes of one testbed host, and freezing its libvirtd (SIGSTOP) so that every virsh
// call against it hangs. The hosts share the machine's PID namespace, so `pgrep` inside a host would see
// every host's processes: a host's processes are told apart by their mount namespace.
import { readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import path from 'node:path';
import { hostExec, testbedDir, type TestbedHost } from './testbed.js';

export interface HostProcess {
  readonly pid: number;
  readonly comm: string;
  readonly cmdline: string;
}

// Every process running in the host's mount namespace (sshd, libvirtd, qemu, remote commands).
export function hostProcesses(host: TestbedHost): HostProcess[] {
  const ino = statSync(path.join(testbedDir(), 'ns', `${host.name}.mnt`)).ino;
  const link = `mnt:[${ino}]`;
  const found: HostProcess[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/ns/mnt`) !== link) continue;
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0+$/, '').replace(/\0/g, ' ');
      const comm = readFileSync(`/proc/${entry}/comm`, 'utf8').trim();
      found.push({ pid: Number(entry), comm, cmdline });
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}

// What a remote command of onevmm leaves behind if it is not cleaned up: virsh itself, the host's
// `timeout` wrapper, or the session shell that reported its PID.
export function leftoverCommands(host: TestbedHost): HostProcess[] {
  return hostProcesses(host).filter(
    (p) =>
      p.comm === 'virsh' ||
      /\bvirsh --connect\b/.test(p.cmdline) ||
      /\btimeout --kill-after=/.test(p.cmdline) ||
      p.cmdline.includes('onevmm-session-pid'),
  );
}

// The host's libvirtd PID (from its pid file inside the host, checked against the host's processes).
export function libvirtdPid(host: TestbedHost): number {
  const pid = Number(hostExec(host, 'cat /run/libvirt/libvirtd.pid').trim());
  const process = hostProcesses(host).find((p) => p.pid === pid);
  if (!process || process.comm !== 'libvirtd')
    throw new Error(
      `${host.name}: /run/libvirt/libvirtd.pid names ${pid}, which is not this host's libvirtd`,
    );
  return pid;
}

// The process state letter from /proc/<pid>/stat: R, S, D, T (stopped)…
export function processState(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] ?? '';
}

// Freezes the process (SIGSTOP) and waits until the kernel reports it stopped.
export async function freezeProcess(pid: number): Promise<void> {
  process.kill(pid, 'SIGSTOP');
  for (let i = 0; i < 50 && processState(pid) !== 'T'; i++) await new Promise((r) => setTimeout(r, 20));
  if (processState(pid) !== 'T') throw new Error(`process ${pid} did not stop after SIGSTOP`);
}

// Lets a frozen process go on (SIGCONT); a process that is gone is fine.
export function thawProcess(pid: number): void {
  try {
    process.kill(pid, 'SIGCONT');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}
