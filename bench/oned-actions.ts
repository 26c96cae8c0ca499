// oned-actions: per action under a real oned (the shared/oned kit), onevmm against OpenNebula's own
// driver, side by side: the same VM life (deploy, poweroff, resume, live migration, disk and NIC
// hot-plug, suspend/resume, snapshots, resize, terminate) driven through oned's XML-RPC API, in
// interleaved rounds (onevmm, OpenNebula, onevmm, …; oned restarts between them on the same DB).
// The time of each action is from oned's request line to the driver's reply line, as the kit's
// protocol tee (vmm_tee.py) stamps them in its wire log. Reported as min/median/max per driver
// and the ratio of the medians; the load average is recorded too (run it alone).
import { readFileSync } from 'node:fs';
import os from 'node:os';
import {
  ensureTemplate,
  kitMissing,
  kitUp,
  ONE_LOCATION,
  serialLog,
  settle,
  vmView,
  type Driver,
  type Kit,
  waitSerial,
} from '../test/e2e/helpers/oned-kit.js';

import { median, round } from './helpers/process.js';
import { recordResult } from './results-file.js';

const ROUNDS = Number(process.env['ONED_BENCH_ROUNDS'] ?? 3);
const WIRE = `${ONE_LOCATION}/var/drvlog/vmm/wire.log`;

// One VM life; returns its id. Every step must end where it should, or the round is void.
async function life(kit: Kit, template: number): Promise<number> {
  const { rpc } = kit;
  const [h1, h2] = kit.hosts as [Kit['hosts'][0], Kit['hosts'][0]];
  const vmid = await rpc.callId('one.template.instantiate', template, '', true, '', false);
  const step = async (
    name: string,
    act: () => Promise<unknown>,
    want: string,
    host?: string,
  ): Promise<void> => {
    const view = await settle(rpc, vmid, act, host === undefined ? {} : { done: (v) => v.host === host });
    if (view.state !== want) throw new Error(`${name}: ${view.state}, not ${want} (${view.error})`);
  };
  // The guest must have booted before the power button is pressed or the VM migrates: a press that
  // comes before the guest handles its power button is lost (then only SHUTDOWN_RESEND ends it).
  const booted = (offset: number): Promise<string> => waitSerial(h1, offset, /^TB-HB \d+ /m, 120_000);
  let offset = serialLog(h1).length;
  await step('deploy', () => rpc.call('one.vm.deploy', vmid, h1.id, false, 0), 'RUNNING');
  await booted(offset);
  await step('poweroff', () => rpc.call('one.vm.action', 'poweroff', vmid), 'POWEROFF');
  offset = serialLog(h1).length;
  await step('resume', () => rpc.call('one.vm.action', 'resume', vmid), 'RUNNING');
  await booted(offset);
  await step(
    'migrate',
    () => rpc.call('one.vm.migrate', vmid, h2.id, true, false, 0, 0),
    'RUNNING',
    h2.address,
  );
  await step(
    'attach disk',
    () => rpc.call('one.vm.attach', vmid, `DISK=[IMAGE_ID="${kit.ids.dataImage}"]`),
    'RUNNING',
  );
  const disk = (await vmView(rpc, vmid)).disks.find((d) => d['IMAGE_ID'] === String(kit.ids.dataImage));
  await step('detach disk', () => rpc.call('one.vm.detach', vmid, Number(disk?.['DISK_ID'])), 'RUNNING');
  await step(
    'attach nic',
    () => rpc.call('one.vm.attachnic', vmid, `NIC=[NETWORK_ID="${kit.ids.vnet}"]`),
    'RUNNING',
  );
  const nic = (await vmView(rpc, vmid)).nics.at(-1)?.['NIC_ID'];
  await step('detach nic', () => rpc.call('one.vm.detachnic', vmid, Number(nic)), 'RUNNING');
  await step('suspend', () => rpc.call('one.vm.action', 'suspend', vmid), 'SUSPENDED');
  await step('resume', () => rpc.call('one.vm.action', 'resume', vmid), 'RUNNING');
  await step('snapshot create', () => rpc.call('one.vm.snapshotcreate', vmid, 'bench'), 'RUNNING');
  await step('snapshot revert', () => rpc.call('one.vm.snapshotrevert', vmid, 0), 'RUNNING');
  await step('snapshot delete', () => rpc.call('one.vm.snapshotdelete', vmid, 0), 'RUNNING');
  await step('resize', () => rpc.call('one.vm.resize', vmid, 'VCPU="2"\nMEMORY="160"', false), 'RUNNING');
  await step('terminate', () => rpc.call('one.vm.action', 'terminate', vmid), 'DONE');
  return vmid;
}

// Request → reply times of one VM's actions from the wire log, in order: "DEPLOY#1" → ms.
function actionTimes(vmid: number): [string, number][] {
  // HH:MM:SS.mmm, in whole milliseconds
  const ms = (stamp: string): number => {
    const [h = 0, m = 0, s = 0, milli = 0] = stamp.split(/[:.]/).map(Number);
    return ((h * 60 + m) * 60 + s) * 1000 + milli;
  };
  const times: [string, number][] = [];
  const pending = new Map<string, number>();
  const seen = new Map<string, number>();
  for (const line of readFileSync(WIRE, 'utf8').split('\n')) {
    const request = /^(\S+) > (\w+)\s+(\d+) /.exec(line);
    if (request?.[3] === String(vmid) && request[2] !== 'DRIVER_CANCEL')
      pending.set(request[2] ?? '', ms(request[1] ?? ''));
    const reply = /^(\S+) < (\w+) (SUCCESS|FAILURE) (\d+)/.exec(line);
    if (reply?.[4] === String(vmid)) {
      const started = pending.get(reply[2] ?? '');
      if (started === undefined) continue;
      pending.delete(reply[2] ?? '');
      const n = (seen.get(reply[2] ?? '') ?? 0) + 1;
      seen.set(reply[2] ?? '', n);
      times.push([`${reply[2]}#${n}`, ms(reply[1] ?? '') - started]);
    }
  }
  return times;
}

const LABELS: Readonly<Record<string, string>> = {
  'DEPLOY#1': 'DEPLOY (context, pre, create, post)',
  'SHUTDOWN#1': 'SHUTDOWN (poweroff)',
  'DEPLOY#2': 'DEPLOY (resume from poweroff)',
  'MIGRATE#1': 'MIGRATE (live, shared TM)',
  'ATTACHDISK#1': 'ATTACHDISK (TM clone + attach)',
  'DETACHDISK#1': 'DETACHDISK (detach + TM delete)',
  'ATTACHNIC#1': 'ATTACHNIC (+ context CD)',
  'DETACHNIC#1': 'DETACHNIC (+ context CD)',
  'SAVE#1': 'SAVE (suspend)',
  'RESTORE#1': 'RESTORE (resume)',
  'SNAPSHOTCREATE#1': 'SNAPSHOTCREATE',
  'SNAPSHOTREVERT#1': 'SNAPSHOTREVERT',
  'SNAPSHOTDELETE#1': 'SNAPSHOTDELETE',
  'RESIZE#1': 'RESIZE (2 vCPUs, 160 MB)',
  'SHUTDOWN#2': 'SHUTDOWN (terminate)',
};

export async function runOnedActionsBench(): Promise<void> {
  const missing = kitMissing();
  if (missing !== undefined) {
    console.log(`oned-actions: not run: ${missing}`);
    return;
  }
  const samples: Record<Driver, Map<string, number[]>> = {
    onevmm: new Map(),
    opennebula: new Map(),
    'opennebula-local': new Map(),
  };
  const drivers: Driver[] = ['onevmm', 'opennebula'];
  let template = -1;
  for (let round = 1; round <= ROUNDS; round++) {
    for (const driver of round % 2 === 1 ? drivers : [...drivers].reverse()) {
      const kit = await kitUp(driver);
      if (template < 0) template = await ensureTemplate(kit);
      const vmid = await life(kit, template);
      for (const [action, ms] of actionTimes(vmid)) {
        const list = samples[driver].get(action) ?? [];
        list.push(ms);
        samples[driver].set(action, list);
      }
      console.log(`oned-actions: round ${round}, ${driver}: VM ${vmid} done`);
    }
  }
  await kitUp('onevmm');
  const load = os.loadavg().map((x) => round(x, 2));
  const figures: Record<string, number | string> = { rounds: ROUNDS, loadAverage: load.join(' ') };
  const rows: string[] = [];
  let faster = 0;
  for (const [action, label] of Object.entries(LABELS)) {
    const ours = samples.onevmm.get(action) ?? [];
    const theirs = samples.opennebula.get(action) ?? [];
    if (ours.length === 0 || theirs.length === 0) continue;
    const show = (list: number[]): string => `${Math.min(...list)}/${median(list)}/${Math.max(...list)}`;
    const ratio = round(median(theirs) / median(ours), 2);
    if (ratio >= 1) faster++;
    figures[`${action} onevmm ms min/med/max`] = show(ours);
    figures[`${action} opennebula ms min/med/max`] = show(theirs);
    figures[`${action} opennebula/onevmm`] = ratio;
    rows.push(`| ${label} | ${show(ours)} | ${show(theirs)} | ${ratio}× |`);
  }
  console.log(
    '| action (request → reply) | onevmm ms min/med/max | OpenNebula ms min/med/max | OpenNebula / onevmm |',
  );
  console.log('| --- | --- | --- | --- |');
  for (const row of rows) console.log(row);
  console.log(`load average ${load.join(' ')}`);
  recordResult('oned-actions', {
    description:
      'Per action under a real oned (kit 7.5.80), request → reply from the wire log: onevmm vs OpenNebula’s driver, same VM life, interleaved rounds',
    figures: { ...figures, actionsWhereOnevmmIsFaster: `${faster} of ${rows.length}` },
  });
}
