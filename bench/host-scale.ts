// host-scale: one driver (bin/one_vmm_exec -t 15 -r 0 kvm -p) against 2 → 64 hosts. The hosts are
// sshd-only: 64 extra addresses on tb-h2's link, served by a second sshd of tb-h2 that listens on all
// of them (port 2222), and libvirt's test driver (test:///default: each virsh works on its own
// private node, no libvirtd). Each address is a host to onevmm: its own SSH connection, its own
// known_hosts line. Per host count: 300 CANCELs of absent domains spread over the hosts, all sent at
// once (the driver keeps 15 in flight), after a warm-up that opens every connection. Measured: rate,
// the driver's resident memory (VmRSS after, VmHWM peak), and that every request got its reply.
// Goal (issue 11): rate flat from 2 to 64 hosts; RSS ≤ 120 MB + 0.5 MB per host; no reply missing.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DriverProcess } from '../test/e2e/helpers/driver-process.js';
import { domainPayload, requestLine } from '../test/e2e/helpers/driver-payload.js';
import { ensureTestbed, hostRun } from '../test/e2e/helpers/testbed.js';
import { round } from './helpers/process.js';
import { recordResult } from './results-file.js';

const COUNTS = [2, 8, 16, 32, 64];
const ACTIONS = 300;
const PORT = 2222;
const address = (i: number): string => `10.77.0.${101 + i}`; // .101-.164: no testbed host is there
const VMID_BASE = 700_000;

function memoryMb(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string): number =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: round(kb('VmRSS') / 1024), peak: round(kb('VmHWM') / 1024) };
}

export async function runHostScaleBench(): Promise<void> {
  const tb = await ensureTestbed(2);
  const h2 = tb.hosts[1]!;
  const max = Math.max(...COUNTS);
  const work = path.join(tb.dir, 'host-scale');
  const pidFile = path.join(work, 'sshd.pid');
  const knownHosts = path.join(work, 'known_hosts');
  mkdirSync(work, { recursive: true });
  const key = readFileSync(path.join(tb.dir, h2.name, 'ssh_host_ed25519_key.pub'), 'utf8')
    .split(' ')
    .slice(0, 2)
    .join(' ');
  writeFileSync(
    knownHosts,
    Array.from({ length: max }, (_, i) => `[${address(i)}]:${PORT} ${key}\n`).join(''),
  );
  for (let i = 0; i < max; i++) hostRun(h2, ['ip', 'addr', 'add', `${address(i)}/24`, 'dev', 'eth0']);
  const sshd = hostRun(h2, [
    '/usr/sbin/sshd',
    '-f',
    path.join(tb.dir, h2.name, 'sshd_config'),
    '-o',
    `ListenAddress=0.0.0.0:${PORT}`,
    '-o',
    `PidFile=${pidFile}`,
    '-E',
    path.join(work, 'sshd.log'),
  ]);
  if (sshd.status !== 0) throw new Error(`second sshd on ${h2.name}: ${sshd.stderr}`);
  const env = {
    SSH_PORT: String(PORT),
    SSH_KNOWN_HOSTS: knownHosts,
    LIBVIRT_URI: 'test:///default',
  };
  const load = os.loadavg();
  console.log(
    `host-scale: ${ACTIONS} CANCELs per host count, sshd-only hosts on ${h2.name} (load ${load[0]!.toFixed(2)})`,
  );
  const rows: {
    hosts: number;
    actionsPerSecond: number;
    rssMb: number;
    peakRssMb: number;
    missing: number;
    failed: number;
  }[] = [];
  try {
    for (const n of COUNTS) {
      const driver = DriverProcess.start(tb, { args: '-t 15 -r 0 kvm -p', env });
      await driver.init();
      const hosts = Array.from({ length: n }, (_, i) => address(i));
      const warm = await Promise.all(
        hosts.map((host, i) =>
          driver.request(requestLine('CANCEL', VMID_BASE + i, domainPayload(host, VMID_BASE + i))),
        ),
      );
      const bad = warm.find((reply) => !reply.ok);
      if (bad) throw new Error(`warm-up: ${bad.line}`);
      const started = performance.now();
      const replies = await Promise.all(
        Array.from({ length: ACTIONS }, (_, i) => {
          const vmid = VMID_BASE + 1000 + i;
          return driver.request(requestLine('CANCEL', vmid, domainPayload(hosts[i % n]!, vmid)), 300_000);
        }),
      );
      const seconds = (performance.now() - started) / 1000;
      const memory = memoryMb(driver.pid);
      await driver.finalize();
      const row = {
        hosts: n,
        actionsPerSecond: round(ACTIONS / seconds),
        rssMb: memory.rss,
        peakRssMb: memory.peak,
        missing: ACTIONS - replies.length + driver.unexpected.length,
        failed: replies.filter((reply) => !reply.ok).length,
      };
      rows.push(row);
      console.log(
        `  ${String(n).padStart(3)} hosts: ${row.actionsPerSecond.toFixed(1)} actions/s, driver RSS ${row.rssMb} MB ` +
          `(peak ${row.peakRssMb} MB, goal ≤ ${120 + 0.5 * n}), ${row.failed} failed, ${row.missing} missing or extra`,
      );
    }
  } finally {
    hostRun(h2, ['sh', '-c', `kill "$(cat ${pidFile})"`]);
    for (let i = 0; i < max; i++) hostRun(h2, ['ip', 'addr', 'del', `${address(i)}/24`, 'dev', 'eth0']);
    rmSync(work, { recursive: true, force: true });
  }
  const rates = rows.map((row) => row.actionsPerSecond);
  const flatness = round(Math.min(...rates) / Math.max(...rates), 2);
  const memoryOk = rows.every((row) => row.peakRssMb <= 120 + 0.5 * row.hosts);
  const allReplied = rows.every((row) => row.missing === 0 && row.failed === 0);
  console.log(
    `  slowest / fastest rate: ${flatness}; memory ${memoryOk ? 'within' : 'NOT within'} the goal; every reply ${allReplied ? 'present' : 'NOT present'}`,
  );
  recordResult('host-scale', {
    description: `bin/one_vmm_exec -t 15 -r 0 kvm -p, ${ACTIONS} CANCELs (test:///default) spread over 2-64 sshd-only hosts (addresses of tb-h2, one SSH connection each); rate, driver VmRSS/VmHWM`,
    figures: { rows, slowestToFastestRate: flatness, loadAverage1m: round(load[0] ?? 0, 2) },
    target: 'rate flat (slowest/fastest >= 0.8), driver RSS <= 120 MB + 0.5 MB per host, every reply present',
    met: flatness >= 0.8 && memoryOk && allReplied,
  });
}
