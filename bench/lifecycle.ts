// lifecycle: a real tiny guest on two testbed hosts. Deploy → the guest's first heartbeat;
// live migration h1 ⇄ h2 through remotes/vmm/kvm/migrate (pre-checks, migrate, both hosts read
// back) side by side with a bare `virsh migrate` run on the source over OpenSSH (the floor), and
// the guest's downtime as libvirt measured it (`virsh domjobinfo --completed`, Total downtime);
// shutdown → domain gone. No target: these are figures to compare with OpenNebula's driver.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ensureTestbed, hostRun, type TestbedHost, type TestbedInfo } from '../test/e2e/helpers/testbed.js';
import { deployTiny, eventually, lastHeartbeat, removeEverywhere } from '../test/e2e/helpers/vm-guest.js';
import { median, round } from './helpers/process.js';
import { recordResult } from './results-file.js';

const ROUND_TRIPS = 4;
const DOMAIN = 'one-100900';
const ROOT = path.join(import.meta.dirname, '..');

function timed(command: string, args: readonly string[], env: NodeJS.ProcessEnv): number {
  const start = process.hrtime.bigint();
  const result = spawnSync(command, args, { env, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr}`);
  return ms;
}

// Total downtime of the last migration, read on the destination.
function downtimeMs(host: TestbedHost): number {
  const info = hostRun(host, ['virsh', '-c', 'qemu:///system', 'domjobinfo', '--completed', DOMAIN]).stdout;
  return Number(/^Total downtime:\s+(\d+)/m.exec(info)?.[1] ?? Number.NaN);
}

export async function runLifecycleBench(): Promise<void> {
  const tb: TestbedInfo = await ensureTestbed(2);
  const [h1, h2] = tb.hosts as [TestbedHost, TestbedHost];
  const env = { ...process.env, ONEVMM_KVMRC: tb.kvmrcPath };
  const work = mkdtempSync(path.join(tmpdir(), 'onevmm-bench-lifecycle-'));
  removeEverywhere(tb, DOMAIN);
  try {
    const deployStart = Date.now();
    await deployTiny(tb, h1, { name: DOMAIN }, work);
    const deployedMs = Date.now() - deployStart;
    await eventually('the guest beats', () => lastHeartbeat(h1, DOMAIN) >= 1, 120_000);
    const bootMs = Date.now() - deployStart;
    const onevmm: number[] = [];
    const floor: number[] = [];
    const downtime: number[] = [];
    const sshConfig = path.join(tb.dir, 'ssh_config');
    let [from, to] = [h1, h2];
    // Alternate onevmm and the bare virsh migrate, so that load on the machine hits both alike.
    for (let i = 0; i < ROUND_TRIPS * 2; i++) {
      const viaOnevmm = i % 2 === 0;
      if (viaOnevmm) {
        onevmm.push(
          timed(
            path.join(ROOT, 'remotes/vmm/kvm/migrate'),
            [DOMAIN, to.address, from.address, '0', from.address],
            env,
          ),
        );
      } else {
        floor.push(
          timed(
            'ssh',
            [
              '-F',
              sshConfig,
              from.name,
              'virsh',
              '-c',
              'qemu:///system',
              'migrate',
              '--live',
              DOMAIN,
              `qemu+ssh://${to.address}/system`,
            ],
            env,
          ),
        );
      }
      downtime.push(downtimeMs(to));
      [from, to] = [to, from];
    }
    const shutdownMs = timed(path.join(ROOT, 'remotes/vmm/kvm/shutdown'), [DOMAIN, '0', from.address], env);
    const figures = {
      deployReplyMs: deployedMs,
      deployToFirstHeartbeatMs: bootMs,
      migrateOnevmmMs: round(median(onevmm)),
      migrateBareVirshMs: round(median(floor)),
      migrateRatioToBare: round(median(onevmm) / median(floor), 2),
      downtimeMs: round(median(downtime)),
      shutdownMs: round(shutdownMs),
      migrations: onevmm.length + floor.length,
    };
    console.log(`lifecycle (tiny guest, TCG), medians of ${ROUND_TRIPS} migrations each way:`);
    console.log(`  deploy reply / first heartbeat     ${deployedMs} ms / ${bootMs} ms`);
    console.log(`  remotes/vmm/kvm/migrate            ${figures.migrateOnevmmMs} ms`);
    console.log(
      `  ssh src virsh migrate (floor)      ${figures.migrateBareVirshMs} ms  (onevmm ${figures.migrateRatioToBare}×)`,
    );
    console.log(`  guest downtime (libvirt)           ${figures.downtimeMs} ms`);
    console.log(`  shutdown (ACPI → gone)             ${figures.shutdownMs} ms`);
    recordResult('lifecycle', {
      description:
        'tiny guest on two testbed hosts: deploy, live migration through remotes/vmm/kvm/migrate vs a bare `ssh src virsh migrate --live`, downtime from domjobinfo --completed, shutdown',
      figures,
    });
  } finally {
    removeEverywhere(tb, DOMAIN);
    rmSync(work, { recursive: true, force: true });
  }
}
