// driver-throughput: 500 protocol actions over 4 testbed hosts through bin/one_vmm_exec (CANCEL of
// domains that do not exist: two virsh calls each, idempotent success, harmless), measured in the
// same run, interleaved, against
//   floor:    the same virsh command lines run inside the hosts directly (nsenter), same concurrency;
//   baseline: OpenNebula style, one `ssh -F ssh_config <host> bash -s` per action, script on stdin.
// Plus the latency of one action at a time. Targets: onevmm (-p) ≤ 1.5× the floor, ≥ 5× faster
// than the baseline.
import os from 'node:os';
import path from 'node:path';
import { buildStepCommand } from '../src/host/remote-command.js';
import { loadKvmrc } from '../src/setup/load-kvmrc.js';
import { ensureTestbed, type TestbedHost } from '../test/e2e/helpers/testbed.js';
import { actionData, Driver } from './helpers/driver.js';
import { median, nsenterArgv, round, row, runPool, runTimed } from './helpers/process.js';
import { recordResult } from './results-file.js';

const ACTIONS = 500;
const HOSTS = 4;
const CONCURRENCY = 15;
// Each mode runs its 500 in this many batches, interleaved with the other modes' (all of it takes
// 2-3 minutes on the loaded 2-CPU testbed machine).
const CHUNKS = 4;
const SEQUENTIAL = 15;
// Far outside the 100-799 the e2e tests use: these domains never exist on any host.
const VMID_BASE = 900_000;
const TARGET_VS_FLOOR = 1.5;
const TARGET_VS_BASELINE = 5;

// virsh's answer for a domain it does not know.
const NOT_FOUND = /failed to get domain|domain not found|no domain with matching/i;

interface Action {
  readonly vmid: string;
  readonly domain: string;
  readonly host: TestbedHost;
}

interface Outcome {
  readonly ms: number;
  readonly failures: number;
  readonly firstFailure?: string;
}

export async function runDriverThroughputBench(): Promise<void> {
  const testbed = await ensureTestbed(HOSTS);
  const hosts = testbed.hosts.slice(0, HOSTS);
  const env = { ...process.env, ONEVMM_KVMRC: testbed.kvmrcPath };
  const { config } = await loadKvmrc(testbed.kvmrcPath, env);
  const sshConfig = path.join(testbed.dir, 'ssh_config');
  const actions: Action[] = Array.from({ length: ACTIONS }, (_, i) => {
    const vmid = String(VMID_BASE + i);
    return { vmid, domain: `one-${vmid}`, host: hosts[i % hosts.length]! };
  });

  // The command lines onevmm's CANCEL runs on the host: `virsh destroy`, then `virsh domstate`.
  const stepLine = (verb: string, domain: string): string =>
    buildStepCommand(
      { step: verb, argv: ['virsh', '--connect', config.libvirtUri, verb, domain] },
      { timeoutSeconds: config.commandTimeout },
    );
  const baselineScript = (domain: string): string =>
    `virsh --connect ${config.libvirtUri} domstate ${domain} || exit 0\n` +
    `virsh --connect ${config.libvirtUri} destroy ${domain}\n`;

  const floorAction = async (action: Action): Promise<string | undefined> => {
    for (const verb of ['destroy', 'domstate']) {
      const result = await runTimed(
        'nsenter',
        nsenterArgv(action.host.name, ['sh', '-c', stepLine(verb, action.domain)]),
        { ownSession: true }, // as sshd runs them: see runTimed
      );
      if (result.status === 0 || !NOT_FOUND.test(result.stderr))
        return `${action.host.name} ${verb} ${action.domain}: exit ${result.status} ${result.stderr.trim()}`;
    }
    return undefined;
  };
  const baselineAction = async (action: Action): Promise<string | undefined> => {
    const result = await runTimed('ssh', ['-F', sshConfig, action.host.name, 'bash', '-s'], {
      input: baselineScript(action.domain),
    });
    return result.status === 0
      ? undefined
      : `${action.host.name} ${action.domain}: exit ${result.status} ${result.stderr.trim()}`;
  };

  const startDriver = async (args: string): Promise<Driver> => {
    const driver = await Driver.start(args, env);
    // Warm-up: one CANCEL per host opens its SSH connection (not timed).
    const warm = await driver.send(
      hosts.map((host, i) => {
        const vmid = String(VMID_BASE + ACTIONS + i);
        return { action: 'CANCEL', vmid, data: actionData(host.address, `one-${vmid}`) };
      }),
    );
    const bad = warm.find((reply) => !reply.ok);
    if (bad) throw new Error(`one_vmm_exec ${args}: warm-up CANCEL ${bad.vmid} failed: ${bad.info}`);
    return driver;
  };
  const throughDriver = async (driver: Driver, chunk: readonly Action[]): Promise<Outcome> => {
    const start = process.hrtime.bigint();
    const replies = await driver.send(
      chunk.map(({ vmid, domain, host }) => ({
        action: 'CANCEL',
        vmid,
        data: actionData(host.address, domain),
      })),
    );
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    const failed = replies.filter((reply) => !reply.ok);
    return {
      ms,
      failures: failed.length,
      ...(failed[0] ? { firstFailure: `CANCEL ${failed[0].vmid}: ${failed[0].info}` } : {}),
    };
  };
  const pooled = async (
    work: (action: Action) => Promise<string | undefined>,
    chunk: readonly Action[],
  ): Promise<Outcome> => {
    const failures: string[] = [];
    const ms = await runPool(chunk, CONCURRENCY, async (action) => {
      const failure = await work(action);
      if (failure !== undefined) failures.push(failure);
    });
    return { ms, failures: failures.length, ...(failures[0] ? { firstFailure: failures[0] } : {}) };
  };

  const load = os.loadavg()[0] ?? 0;
  console.log(
    `driver-throughput: ${ACTIONS} CANCELs of absent domains over ${hosts.length} hosts, ${CONCURRENCY} at once; ` +
      `each mode in ${CHUNKS} interleaved batches of ${ACTIONS / CHUNKS} (${os.cpus().length} CPUs, load ${load.toFixed(1)})`,
  );
  // Both drivers are started and warmed first, and stay up for all their batches.
  const parallelDriver = await startDriver(`-t ${CONCURRENCY} -p kvm`);
  const serialDriver = await startDriver(`-t ${CONCURRENCY} kvm`);
  const modes = {
    floor: (chunk: readonly Action[]) => pooled(floorAction, chunk),
    parallel: (chunk: readonly Action[]) => throughDriver(parallelDriver, chunk),
    baseline: (chunk: readonly Action[]) => pooled(baselineAction, chunk),
    serialPerHost: (chunk: readonly Action[]) => throughDriver(serialDriver, chunk),
  } as const;
  type Mode = keyof typeof modes;
  const order = Object.keys(modes) as Mode[];
  const samples: Record<Mode, Outcome[]> = { parallel: [], serialPerHost: [], floor: [], baseline: [] };
  // The machine's load changes by the second (other tests boot guests): every mode runs its batch
  // k, the order rotated from batch to batch, so that load hits every mode alike.
  try {
    for (let k = 0; k < CHUNKS; k++) {
      const chunk = actions.slice((k * ACTIONS) / CHUNKS, ((k + 1) * ACTIONS) / CHUNKS);
      for (let j = 0; j < order.length; j++) {
        const mode = order[(j + k) % order.length]!;
        const outcome = await modes[mode](chunk);
        samples[mode].push(outcome);
        if (outcome.failures > 0)
          console.log(
            `  (batch ${k + 1}, ${mode}: ${outcome.failures} failed; first: ${outcome.firstFailure})`,
          );
      }
    }
  } finally {
    await Promise.all([parallelDriver.finalize(), serialDriver.finalize()]);
  }
  const ms = (mode: Mode): number => samples[mode].reduce((sum, outcome) => sum + outcome.ms, 0);
  const failures = (mode: Mode): number => samples[mode].reduce((sum, outcome) => sum + outcome.failures, 0);
  const perSecond = (mode: Mode): number => (ACTIONS * 1000) / ms(mode);
  const floor = ms('floor');
  const lines: [string, Mode][] = [
    [`onevmm: one_vmm_exec -t ${CONCURRENCY} -p`, 'parallel'],
    [`onevmm: one_vmm_exec -t ${CONCURRENCY} (no -p: 1 action/host at a time)`, 'serialPerHost'],
    [`floor: same 2 virsh command lines via nsenter, ${CONCURRENCY} at once`, 'floor'],
    [`baseline: ssh host bash -s per action, ${CONCURRENCY} at once`, 'baseline'],
  ];
  console.log(row('', ['wall ms', 'actions/s', '× floor', 'failed']));
  for (const [label, mode] of lines) {
    console.log(
      row(label, [
        ms(mode).toFixed(0),
        perSecond(mode).toFixed(1),
        (ms(mode) / floor).toFixed(2),
        String(failures(mode)),
      ]),
    );
  }

  // Latency: one action at a time, interleaved sample by sample.
  const latency = { driver: [] as number[], floor: [] as number[], baseline: [] as number[] };
  const driver = await startDriver(`-t ${CONCURRENCY} -p kvm`);
  let latencyFailures = 0;
  try {
    for (let i = 0; i < SEQUENTIAL; i++) {
      const action = actions[i]!;
      let start = process.hrtime.bigint();
      const reply = await driver.request(
        'CANCEL',
        action.vmid,
        actionData(action.host.address, action.domain),
      );
      latency.driver.push(Number(process.hrtime.bigint() - start) / 1e6);
      start = process.hrtime.bigint();
      const floorFailure = await floorAction(action);
      latency.floor.push(Number(process.hrtime.bigint() - start) / 1e6);
      start = process.hrtime.bigint();
      const baselineFailure = await baselineAction(action);
      latency.baseline.push(Number(process.hrtime.bigint() - start) / 1e6);
      const failure = reply.ok ? (floorFailure ?? baselineFailure) : `CANCEL ${reply.vmid}: ${reply.info}`;
      if (failure !== undefined) {
        latencyFailures++;
        console.log(`  (one at a time, sample ${i + 1} failed: ${failure})`);
      }
    }
  } finally {
    await driver.finalize();
  }
  const seq = {
    driver: median(latency.driver),
    floor: median(latency.floor),
    baseline: median(latency.baseline),
  };
  console.log(`one action at a time, median of ${SEQUENTIAL} interleaved (${latencyFailures} failed):`);
  console.log(row('', ['ms/action', '× floor']));
  console.log(
    row('onevmm: CANCEL through one_vmm_exec (warm connection)', [
      seq.driver.toFixed(1),
      (seq.driver / seq.floor).toFixed(2),
    ]),
  );
  console.log(row('floor: the 2 virsh command lines via nsenter', [seq.floor.toFixed(1), '1.00']));
  console.log(
    row('baseline: ssh host bash -s', [seq.baseline.toFixed(1), (seq.baseline / seq.floor).toFixed(2)]),
  );

  const vsFloor = ms('parallel') / floor;
  const vsBaseline = ms('baseline') / ms('parallel');
  const allSucceeded = order.every((mode) => failures(mode) === 0);
  const firstFailure = order
    .flatMap((mode) =>
      samples[mode].map((outcome) => outcome.firstFailure && `${mode}: ${outcome.firstFailure}`),
    )
    .find((text) => text);
  const met = vsFloor <= TARGET_VS_FLOOR && vsBaseline >= TARGET_VS_BASELINE && allSucceeded;
  console.log(
    `onevmm (-p) = ${vsFloor.toFixed(2)}× the floor (target ≤ ${TARGET_VS_FLOOR}), ` +
      `${vsBaseline.toFixed(2)}× faster than the baseline (target ≥ ${TARGET_VS_BASELINE}): ${met ? 'met' : 'NOT met'}` +
      `; without -p: ${(ms('serialPerHost') / floor).toFixed(2)}× the floor, ` +
      `${(ms('baseline') / ms('serialPerHost')).toFixed(2)}× faster than the baseline`,
  );
  recordResult('driver-throughput', {
    description:
      `${ACTIONS} CANCELs of absent domains (2 virsh calls each) over ${hosts.length} testbed hosts through ` +
      `bin/one_vmm_exec -t ${CONCURRENCY} (with and without -p), against the same virsh command lines run ` +
      `inside the hosts via nsenter and one \`ssh host bash -s\` per action (1 virsh call each), ` +
      `${CONCURRENCY} at once (floor commands each in their own session, as sshd starts them); ` +
      `each mode in ${CHUNKS} batches interleaved with the others, times summed; plus one action at a time, interleaved`,
    figures: {
      actions: ACTIONS,
      hosts: hosts.length,
      concurrency: CONCURRENCY,
      batches: CHUNKS,
      onevmmParallelMs: round(ms('parallel'), 0),
      onevmmParallelActionsPerSecond: round(perSecond('parallel')),
      onevmmSerialPerHostMs: round(ms('serialPerHost'), 0),
      onevmmSerialPerHostActionsPerSecond: round(perSecond('serialPerHost')),
      floorMs: round(floor, 0),
      floorActionsPerSecond: round(perSecond('floor')),
      baselineMs: round(ms('baseline'), 0),
      baselineActionsPerSecond: round(perSecond('baseline')),
      ratioParallelToFloor: round(vsFloor, 2),
      ratioBaselineToParallel: round(vsBaseline, 2),
      ratioSerialPerHostToFloor: round(ms('serialPerHost') / floor, 2),
      ratioBaselineToSerialPerHost: round(ms('baseline') / ms('serialPerHost'), 2),
      failedActions: order.reduce((sum, mode) => sum + failures(mode), 0),
      ...(firstFailure === undefined ? {} : { firstFailure }),
      sequentialSamples: SEQUENTIAL,
      sequentialOnevmmMs: round(seq.driver),
      sequentialFloorMs: round(seq.floor),
      sequentialBaselineMs: round(seq.baseline),
      sequentialRatioOnevmmToFloor: round(seq.driver / seq.floor, 2),
      sequentialRatioBaselineToOnevmm: round(seq.baseline / seq.driver, 2),
      sequentialFailures: latencyFailures,
      loadAverage1m: round(load, 2),
    },
    target: `one_vmm_exec -p <= ${TARGET_VS_FLOOR}x the floor and >= ${TARGET_VS_BASELINE}x faster than the baseline, all actions SUCCESS`,
    met,
  });
}
