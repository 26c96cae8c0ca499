// guest-actions: a real tiny guest through bin/one_vmm_exec as oned runs it (a warm connection).
//   DEPLOY: request → reply, against `virsh create` of the same deployment file started inside the
//           host (the floor), interleaved.
//   SHUTDOWN of a cooperative guest: the reply, against the moment the guest powered off as libvirt
//           reports it (`virsh event --timestamp`, run inside the host before the request).
// Goals (issue 11): DEPLOY ≤ virsh create + 50 ms; SHUTDOWN reply ≤ 350 ms after the power-off.
import { spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { DriverProcess } from '../test/e2e/helpers/driver-process.js';
import { deployPayload, domainPayload, requestLine, vmDir } from '../test/e2e/helpers/driver-payload.js';
import { ensureTestbed, hostRun, type TestbedHost } from '../test/e2e/helpers/testbed.js';
import { eventually, lastHeartbeat, removeEverywhere } from '../test/e2e/helpers/vm-guest.js';
import { nsenterArgv, round, runTimed, spread } from './helpers/process.js';
import { recordResult } from './results-file.js';

const ROUNDS = Number(process.env['GUEST_ACTIONS_ROUNDS'] ?? 3);
const VMID = 100_950;
const DOMAIN = `one-${VMID}`;

const show = (s: { min: number; median: number; max: number }): string =>
  `${s.min.toFixed(0)} / ${s.median.toFixed(0)} / ${s.max.toFixed(0)} ms`;

// Starts `virsh event` inside the host; resolves with the time (ms since the epoch) of the domain's
// first "Shutdown" (the guest finished powering off) or "Stopped" lifecycle event. Resolves `ready` once virsh listens.
function watchStop(host: TestbedHost): { ready: Promise<void>; stopped: Promise<number> } {
  const argv = ['virsh', '--connect', 'qemu:///system', 'event', '--domain', DOMAIN, '--event', 'lifecycle'];
  const child = spawn(
    'nsenter',
    nsenterArgv(host.name, [...argv, '--loop', '--timestamp', '--timeout', '120']),
  );
  let text = '';
  let onReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  // virsh prints nothing until the first event: give it time to register (it connects in ~20 ms).
  setTimeout(() => onReady(), 500);
  const stopped = new Promise<number>((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      text += chunk;
      const match =
        /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d\.\d+)([+-]\d\d)(\d\d): event 'lifecycle' for domain '[^']+': (Shutdown|Stopped)/m.exec(
          text,
        );
      if (match) {
        resolve(Date.parse(`${match[1]}T${match[2]}${match[3]}:${match[4]}`));
        child.kill();
      }
    });
    child.on('close', () =>
      reject(new Error(`virsh event ended without a Shutdown or Stopped event: ${text}`)),
    );
  });
  return { ready, stopped };
}

export async function runGuestActionsBench(): Promise<void> {
  const tb = await ensureTestbed(1);
  const host = tb.hosts[0]!;
  removeEverywhere(tb, DOMAIN);
  const driver = DriverProcess.start(tb, { args: '-t 15 -r 0 kvm -p', env: { SHUTDOWN_TIMEOUT: '120' } });
  await driver.init();
  const file = path.join(vmDir(tb, VMID), 'deployment.0');
  const deploy: number[] = [];
  const create: number[] = [];
  const afterPowerOff: number[] = [];
  const load = os.loadavg();
  console.log(
    `guest-actions: tiny guest on ${host.name}, ${ROUNDS} rounds (${os.cpus().length} CPUs, load ${load[0]!.toFixed(2)})`,
  );
  try {
    // Warm-up: the driver's connection and shells (not timed).
    const warm = await driver.request(requestLine('POLL', VMID, domainPayload(host.address, VMID)));
    if (!warm.ok) throw new Error(`warm-up POLL: ${warm.line}`);
    for (let round = 0; round < ROUNDS; round++) {
      const start = performance.now();
      const reply = await driver.request(requestLine('DEPLOY', VMID, deployPayload(tb, host.address, VMID)));
      deploy.push(performance.now() - start);
      if (!reply.ok) throw new Error(`DEPLOY: ${reply.line}`);
      await eventually('the guest beats', () => lastHeartbeat(host, DOMAIN) >= 1, 120_000);
      const watch = watchStop(host);
      await watch.ready;
      const shutdown = await driver.request(requestLine('SHUTDOWN', VMID, domainPayload(host.address, VMID)));
      const repliedAt = Date.now();
      if (!shutdown.ok) throw new Error(`SHUTDOWN: ${shutdown.line}`);
      afterPowerOff.push(repliedAt - (await watch.stopped));
      // The floor: the same deployment file, created inside the host; then gone again at once.
      const floor = await runTimed(
        'nsenter',
        nsenterArgv(host.name, ['virsh', '--connect', 'qemu:///system', 'create', file]),
        { ownSession: true },
      );
      if (floor.status !== 0) throw new Error(`virsh create: ${floor.stderr}`);
      create.push(floor.ms);
      hostRun(host, ['virsh', '--connect', 'qemu:///system', 'destroy', DOMAIN]);
    }
  } finally {
    await driver.finalize().catch(() => undefined);
    removeEverywhere(tb, DOMAIN);
  }
  const d = spread(deploy);
  const c = spread(create);
  const s = spread(afterPowerOff);
  const deployOver = round(d.median - c.median);
  console.log(`  DEPLOY through one_vmm_exec       ${show(d)}`);
  console.log(
    `  virsh create inside the host      ${show(c)}   (DEPLOY − create: ${deployOver} ms, goal ≤ 50)`,
  );
  console.log(`  SHUTDOWN reply after power-off    ${show(s)}   (goal ≤ 350)`);
  recordResult('guest-actions', {
    description:
      'tiny guest through bin/one_vmm_exec (warm): DEPLOY request→reply vs `virsh create` of the same file inside the host; SHUTDOWN reply after the guest powered off (libvirt lifecycle event); min/median/max',
    figures: {
      rounds: ROUNDS,
      deployMs: d,
      virshCreateMs: c,
      deployOverCreateMs: deployOver,
      shutdownReplyAfterPowerOffMs: s,
      loadAverage1m: round(load[0] ?? 0, 2),
    },
    target: 'DEPLOY <= virsh create + 50 ms; SHUTDOWN reply <= 350 ms after the guest powers off',
    met: deployOver <= 50 && s.median <= 350,
  });
}
