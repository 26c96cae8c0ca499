// action-cost: what one action costs, onevmm against OpenNebula's own driver and against the floor
// (`virsh dominfo` started inside the host, as a user logged in there would), side by side in one run
// on the 2 hosts of the real-oned kit (they carry OpenNebula's remotes; oned itself is stopped so that
// its monitoring does not run beside the bench). The action is CANCEL of a domain that does not exist
// (harmless, idempotent SUCCESS), the same payload for both drivers, both started as oned starts them
// (`-t 15 -r 0 kvm -p`).
//   throughput: 200 CANCELs over the 2 hosts, 15 at once (the floor: 200 virsh, 15 at once);
//   latency: one action at a time;
//   CPU: the whole machine's busy time (/proc/stat: this process, the drivers, sshd, virsh, libvirtd,
//        the host namespaces all run here) over a batch, per action.
// Each figure over ROUNDS interleaved rounds (the order rotated), as min/median/max.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { kitMissing, ONE_LOCATION } from '../test/e2e/helpers/oned-kit.js';
import { actionData, Driver, ROOT } from './helpers/driver.js';
import { nsenterArgv, round, row, runPool, runTimed, spread } from './helpers/process.js';
import { recordResult } from './results-file.js';

const ROUNDS = Number(process.env['ACTION_COST_ROUNDS'] ?? 3);
const ACTIONS = 200;
const CONCURRENCY = 15;
const SEQUENTIAL = 15;
const ARGS = '-t 15 -r 0 kvm -p';
const HOSTS = [
  { name: 'tk-h1', address: '10.77.2.11' },
  { name: 'tk-h2', address: '10.77.2.12' },
] as const;
const VMID_BASE = 800_000;
const NOT_FOUND = /failed to get domain|domain not found/i;

type Mode = 'opennebula' | 'onevmm' | 'floor';
const MODES: readonly Mode[] = ['onevmm', 'opennebula', 'floor'];

interface Batch {
  readonly ms: number;
  readonly cpuMsPerAction: number;
  readonly failures: number;
  readonly firstFailure?: string;
}

// Busy jiffies of the whole machine (everything but idle and iowait), in ms.
function machineBusyMs(): number {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = cpu;
  const hz = 100; // USER_HZ on Linux
  return ((user + nice + system + irq + softirq + steal) * 1000) / hz;
}

const payload = (vmid: number, host: (typeof HOSTS)[number]): string =>
  actionData(host.address, `one-${vmid}`).replace(
    '</VMM_DRIVER_ACTION_DATA>',
    `<VM><ID>${vmid}</ID><TEMPLATE></TEMPLATE></VM></VMM_DRIVER_ACTION_DATA>`,
  );

const show = (s: { min: number; median: number; max: number }): string =>
  `${s.min.toFixed(1)} / ${s.median.toFixed(1)} / ${s.max.toFixed(1)}`;

export async function runActionCostBench(): Promise<void> {
  const missing = kitMissing();
  if (missing !== undefined) throw new Error(`action-cost needs the OpenNebula kit: ${missing}`);
  const kit = path.join(ROOT, 'testbed', 'oned-kit.sh');
  execFileSync('bash', [kit, 'up'], { stdio: ['ignore', 'ignore', 'inherit'] });
  execFileSync('bash', [kit, 'stop-oned'], { stdio: ['ignore', 'ignore', 'inherit'] });
  process.env['TB_DIR'] = '/tmp/onevmm-kit'; // nsenterArgv: the kit's hosts
  const kitDir = path.join(ONE_LOCATION, 'var', 'kit');
  const base = { PATH: `${ONE_LOCATION}/bin:${kitDir}/bin:/usr/sbin:/usr/bin:/sbin:/bin`, LANG: 'C' };
  // OpenNebula's driver with the environment oned gives it (the kit's oned.sh), onevmm with the kit's kvmrc.
  const opennebulaEnv = {
    ...base,
    HOME: `${ONE_LOCATION}/home`,
    ONE_LOCATION,
    RUBYLIB: `${ONE_LOCATION}/lib/ruby`,
    SSH: `${kitDir}/bin/ssh`,
  };
  const onevmmEnv = { ...process.env, ONEVMM_KVMRC: `${ONE_LOCATION}/etc/onevmm-kvmrc` };
  const start = async (mode: 'opennebula' | 'onevmm'): Promise<Driver> => {
    const driver =
      mode === 'onevmm'
        ? await Driver.start(ARGS, onevmmEnv)
        : await Driver.start(ARGS, opennebulaEnv, {
            path: `${ONE_LOCATION}/lib/mads/one_vmm_exec`,
            argv: ARGS.split(' '),
            cwd: `${ONE_LOCATION}/var`,
          });
    // Warm-up (not timed): a first action per host opens what the driver keeps open.
    const warm = await driver.send(
      HOSTS.map((host, i) => ({
        action: 'CANCEL',
        vmid: String(VMID_BASE - 10 - i),
        data: payload(VMID_BASE - 10 - i, host),
      })),
    );
    const bad = warm.find((reply) => !reply.ok);
    if (bad) throw new Error(`${mode}: warm-up CANCEL failed: ${bad.info}`);
    return driver;
  };
  const drivers = { onevmm: await start('onevmm'), opennebula: await start('opennebula') };
  const floorOne = async (vmid: number, host: (typeof HOSTS)[number]): Promise<string | undefined> => {
    const argv = ['env', 'LC_ALL=C', 'virsh', '--connect', 'qemu:///system', 'dominfo', `one-${vmid}`];
    const result = await runTimed('nsenter', nsenterArgv(host.name, argv), { ownSession: true });
    return NOT_FOUND.test(result.stderr)
      ? undefined
      : `${host.name}: ${result.status} ${result.stderr.trim()}`;
  };

  let next = VMID_BASE;
  const batch = async (mode: Mode): Promise<Batch> => {
    const ids = Array.from({ length: ACTIONS }, () => next++);
    const busy = machineBusyMs();
    const t0 = performance.now();
    const failures: string[] = [];
    if (mode === 'floor') {
      await runPool(ids, CONCURRENCY, async (vmid) => {
        const failure = await floorOne(vmid, HOSTS[vmid % 2]!);
        if (failure !== undefined) failures.push(failure);
      });
    } else {
      const replies = await drivers[mode].send(
        ids.map((vmid) => ({ action: 'CANCEL', vmid: String(vmid), data: payload(vmid, HOSTS[vmid % 2]!) })),
      );
      for (const reply of replies) if (!reply.ok) failures.push(`CANCEL ${reply.vmid}: ${reply.info}`);
    }
    const ms = performance.now() - t0;
    const cpuMsPerAction = (machineBusyMs() - busy) / ACTIONS;
    return {
      ms,
      cpuMsPerAction,
      failures: failures.length,
      ...(failures[0] ? { firstFailure: failures[0] } : {}),
    };
  };
  const single = async (mode: Mode): Promise<number> => {
    const vmid = next++;
    const host = HOSTS[vmid % 2]!;
    const t0 = performance.now();
    if (mode === 'floor') {
      const failure = await floorOne(vmid, host);
      if (failure !== undefined) throw new Error(`floor: ${failure}`);
    } else {
      const reply = await drivers[mode].request('CANCEL', String(vmid), payload(vmid, host));
      if (!reply.ok) throw new Error(`${mode}: CANCEL ${vmid}: ${reply.info}`);
    }
    return performance.now() - t0;
  };

  const loadBefore = os.loadavg();
  console.log(
    `action-cost: CANCEL of absent domains on ${HOSTS.length} kit hosts; ${ROUNDS} rounds of ${ACTIONS} ` +
      `(${CONCURRENCY} at once) and ${SEQUENTIAL} one at a time per mode; ${os.cpus().length} CPUs, ` +
      `load ${loadBefore.map((l) => l.toFixed(2)).join(' ')}`,
  );
  const batches: Record<Mode, Batch[]> = { onevmm: [], opennebula: [], floor: [] };
  const latency: Record<Mode, number[]> = { onevmm: [], opennebula: [], floor: [] };
  try {
    for (let r = 0; r < ROUNDS; r++) {
      for (let j = 0; j < MODES.length; j++) {
        const mode = MODES[(j + r) % MODES.length]!;
        const result = await batch(mode);
        batches[mode].push(result);
        if (result.failures > 0)
          console.log(`  (round ${r + 1}, ${mode}: ${result.failures} failed; ${result.firstFailure})`);
      }
      for (let i = 0; i < SEQUENTIAL; i++) {
        for (let j = 0; j < MODES.length; j++) {
          const mode = MODES[(i + j + r) % MODES.length]!;
          latency[mode].push(await single(mode));
        }
      }
    }
  } finally {
    await Promise.all([drivers.onevmm.finalize(), drivers.opennebula.finalize()]);
  }
  const loadAfter = os.loadavg();

  const rate = (mode: Mode) => spread(batches[mode].map((b) => (ACTIONS * 1000) / b.ms));
  const wall = (mode: Mode) => spread(batches[mode].map((b) => b.ms / 1000));
  const cpu = (mode: Mode) => spread(batches[mode].map((b) => b.cpuMsPerAction));
  const lat = (mode: Mode) => spread(latency[mode]);
  const labels: Record<Mode, string> = {
    opennebula: "OpenNebula's driver (kit one_vmm_exec -p)",
    onevmm: 'onevmm (bin/one_vmm_exec -p)',
    floor: 'floor: virsh dominfo started inside the host',
  };
  console.log(
    row(
      'min / median / max',
      [`${ACTIONS} wall s`, 'actions/s', 'CPU ms/action', 'one at a time ms'].map((c) => c.padStart(20)),
      44,
    ),
  );
  for (const mode of ['opennebula', 'onevmm', 'floor'] as const) {
    console.log(
      row(
        labels[mode],
        [show(wall(mode)), show(rate(mode)), show(cpu(mode)), show(lat(mode))].map((c) => c.padStart(20)),
        44,
      ),
    );
  }
  const m = (s: { median: number }) => s.median;
  const ratios = {
    latencyOnevmmToFloor: round(m(lat('onevmm')) / m(lat('floor')), 2),
    latencyOpennebulaToOnevmm: round(m(lat('opennebula')) / m(lat('onevmm')), 2),
    rateOnevmmToFloor: round(m(rate('onevmm')) / m(rate('floor')), 2),
    rateOnevmmToOpennebula: round(m(rate('onevmm')) / m(rate('opennebula')), 2),
    cpuOnevmmToFloor: round(m(cpu('onevmm')) / m(cpu('floor')), 2),
    cpuOpennebulaToOnevmm: round(m(cpu('opennebula')) / m(cpu('onevmm')), 2),
  };
  const goals = {
    latency: ratios.latencyOnevmmToFloor <= 1.3,
    rateVsFloor: ratios.rateOnevmmToFloor >= 1,
    rateVsOpennebula: ratios.rateOnevmmToOpennebula >= 15,
    cpu: ratios.cpuOnevmmToFloor <= 1,
  };
  const failed = MODES.reduce((sum, mode) => sum + batches[mode].reduce((s, b) => s + b.failures, 0), 0);
  console.log(
    `onevmm: latency ${ratios.latencyOnevmmToFloor}× the floor (goal ≤ 1.3), rate ${ratios.rateOnevmmToFloor}× the floor ` +
      `(goal ≥ 1) and ${ratios.rateOnevmmToOpennebula}× OpenNebula's (goal ≥ 15), CPU ${ratios.cpuOnevmmToFloor}× the floor ` +
      `(goal ≤ 1); ${failed} failed; load ${loadAfter.map((l) => l.toFixed(2)).join(' ')}`,
  );
  recordResult('action-cost', {
    description:
      `CANCEL of absent domains on the 2 kit hosts: OpenNebula's driver and onevmm (${ARGS}), against ` +
      `\`virsh dominfo\` started inside the host; ${ROUNDS} interleaved rounds of ${ACTIONS} (${CONCURRENCY} at once) ` +
      `and ${SEQUENTIAL} one at a time; machine CPU from /proc/stat; min/median/max`,
    figures: {
      rounds: ROUNDS,
      actions: ACTIONS,
      concurrency: CONCURRENCY,
      ...Object.fromEntries(
        (['opennebula', 'onevmm', 'floor'] as const).flatMap((mode) => [
          [`${mode}ActionsPerSecond`, rate(mode)],
          [`${mode}CpuMsPerAction`, cpu(mode)],
          [`${mode}OneAtATimeMs`, lat(mode)],
        ]),
      ),
      ...ratios,
      failedActions: failed,
      loadAverageBefore: loadBefore.map((l) => round(l, 2)),
      loadAverageAfter: loadAfter.map((l) => round(l, 2)),
    },
    target:
      'one at a time <= 1.3x the floor; rate >= the floor and >= 15x OpenNebula; machine CPU per action <= the floor',
    met: goals.latency && goals.rateVsFloor && goals.rateVsOpennebula && goals.cpu && failed === 0,
  });
}
