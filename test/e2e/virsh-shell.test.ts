// Long-lived virsh shells (VIRSH_SHELLS, src/host/virsh-shell.ts) on a real host: short commands run in
// a few virsh processes that stay, and every way a shell can break still gives each request its reply:
// a shell killed between actions, libvirtd restarted under an idle shell, a shell that hangs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DriverProcess } from './helpers/driver-process.js';
import { domainPayload, requestLine } from './helpers/driver-payload.js';
import { ensureDriverTestbed, hostNamed } from './helpers/driver-testbed.js';
import { freezeProcess, hostProcesses, thawProcess } from './helpers/faults-host.js';
import { createSshRunner } from '../../src/host/ssh-runner.js';
import { loadKvmrc } from '../../src/setup/load-kvmrc.js';
import {
  hostRun,
  startLibvirtd,
  stopLibvirtd,
  type TestbedHost,
  type TestbedInfo,
} from './helpers/testbed.js';

const ARGS = '-t 15 -r 0 kvm -p'; // oned.conf's: no retries
const VMS = 850; // 850-899: CANCELs of domains that do not exist

let tb: TestbedInfo;
let h2: TestbedHost;
const drivers: DriverProcess[] = [];

beforeAll(async () => {
  tb = await ensureDriverTestbed(2, ['tb-h2']);
  h2 = hostNamed(tb, 'tb-h2');
});

afterAll(async () => {
  await Promise.all(drivers.map((driver) => driver.kill()));
});

async function startDriver(env: Readonly<Record<string, string>> = {}): Promise<DriverProcess> {
  const driver = DriverProcess.start(tb, { args: ARGS, env });
  drivers.push(driver);
  await driver.init();
  return driver;
}

const virshPids = (): Set<number> =>
  new Set(
    hostProcesses(h2)
      .filter((p) => p.comm === 'virsh')
      .map((p) => p.pid),
  );

async function cancels(driver: DriverProcess, from: number, n: number): Promise<void> {
  const replies = await Promise.all(
    Array.from({ length: n }, (_, i) =>
      driver.request(requestLine('CANCEL', from + i, domainPayload(h2.address, from + i))),
    ),
  );
  for (const reply of replies) expect(reply.ok, reply.line).toBe(true);
}

describe('virsh shells', () => {
  it('run the short commands of many actions in at most VIRSH_SHELLS virsh processes that stay', async () => {
    expect(virshPids().size, 'no virsh on tb-h2 before').toBe(0);
    const driver = await startDriver();
    await cancels(driver, VMS, 20);
    const first = virshPids();
    expect(first.size).toBeGreaterThanOrEqual(1);
    expect(first.size).toBeLessThanOrEqual(4);
    await cancels(driver, VMS + 20, 20);
    const second = virshPids();
    expect(second.size).toBeLessThanOrEqual(4);
    expect([...second].filter((pid) => first.has(pid)).length, 'the same shells served both').toBeGreaterThan(
      0,
    );
    await driver.finalize();
    // FINALIZE closes the connection: the shells end with it.
    await expect.poll(() => virshPids().size, { timeout: 10_000 }).toBe(0);
  });

  it('reads the output of a line wider than the screen (readline scrolls its echo)', async () => {
    const name = `one-${'x'.repeat(90)}`;
    const xml = `<domain type='qemu'><name>${name}</name><memory unit='MiB'>16</memory><os><type arch='x86_64'>hvm</type></os></domain>`;
    const file = '/tmp/onevmm-e2e-long-name.xml';
    const define = `cat > ${file} && virsh --connect qemu:///system define ${file}; rm -f ${file}`;
    expect(hostRun(h2, ['sh', '-c', define], xml).stderr).toBe('');
    const { vars } = await loadKvmrc(tb.kvmrcPath, {});
    const runner = createSshRunner(vars);
    try {
      const virsh = (...args: string[]) => ({
        step: 'read',
        argv: ['virsh', '--connect', 'qemu:///system', ...args],
      });
      const state = await runner.run(h2.address, virsh('domstate', '--', name));
      expect(state.command).toBe(`virsh --connect qemu:///system shell> domstate -- ${name}`);
      expect(state.stdout).toBe('shut off\n\n');
      const dumped = await runner.run(h2.address, virsh('dumpxml', '--', name));
      expect(dumped.stdout).toMatch(new RegExp(`^<domain type='qemu'>\\n  <name>${name}</name>`));
      expect(dumped.stdout).toMatch(/<\/domain>\n\n$/);
    } finally {
      await runner.close();
      hostRun(h2, ['virsh', '--connect', 'qemu:///system', 'undefine', name]);
    }
  });

  it('a shell killed between actions, and libvirtd restarted under an idle shell: the next action succeeds', async () => {
    const driver = await startDriver();
    await cancels(driver, VMS, 1);
    for (const pid of virshPids()) process.kill(pid, 'SIGKILL');
    await cancels(driver, VMS + 1, 1);
    // virsh reports the lost connection and reconnects before the next command: no FAILURE, even with -r 0.
    stopLibvirtd(h2);
    startLibvirtd(h2);
    await cancels(driver, VMS + 2, 2);
    const poll = await driver.request(requestLine('POLL', VMS + 4, domainPayload(h2.address, VMS + 4)));
    expect(poll.ok, poll.line).toBe(true);
    expect(poll.info).toBe('STATE=d');
    await driver.finalize();
  });

  it('a shell that hangs under a command: FAILURE after COMMAND_TIMEOUT naming host and step, the shell killed, the next action succeeds', async () => {
    const driver = await startDriver({ COMMAND_TIMEOUT: '3' });
    await cancels(driver, VMS, 1); // one shell, idle now
    const frozen = [...virshPids()];
    expect(frozen.length).toBe(1);
    for (const pid of frozen) await freezeProcess(pid);
    try {
      const started = performance.now();
      const reply = await driver.request(requestLine('CANCEL', VMS + 1, domainPayload(h2.address, VMS + 1)));
      const ms = performance.now() - started;
      expect(reply.ok, reply.line).toBe(false);
      expect(reply.info).toContain(h2.address);
      expect(reply.info).toMatch(/destroy domain/);
      expect(reply.info).toMatch(/timed out|timeout/i);
      expect(ms, 'not before COMMAND_TIMEOUT').toBeGreaterThanOrEqual(3000);
      expect(ms, 'bounded').toBeLessThan(15_000);
      // The frozen virsh was killed (SIGKILL ends a stopped process too).
      await expect.poll(() => frozen.filter((pid) => virshPids().has(pid)), { timeout: 10_000 }).toEqual([]);
    } finally {
      for (const pid of frozen) thawProcess(pid);
    }
    await cancels(driver, VMS + 2, 1);
    await driver.finalize();
    expect(driver.unexpected).toEqual([]);
    expect(driver.badLines).toEqual([]);
  });
});
