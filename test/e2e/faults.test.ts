// Faults on a real host (issue 3 §4): a cut link, sshd killed mid-action, libvirtd stopped, an unknown or
// changed host key, a command hung past COMMAND_TIMEOUT. Each must end in bounded time with a non-zero
// exit and one error line naming the host and the step, and must lose no VM: the guest still runs once
// the fault is repaired. Every fault is undone in `finally`, and the domains are cancelled at the end,
// so the next test file finds a healthy testbed. VM ids 500-599.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freezeProcess, leftoverCommands, libvirtdPid, thawProcess } from './helpers/faults-host.js';
import {
  deployGuest,
  deploymentFileOf,
  describeRun,
  domainState,
  errorLine,
  removeGuest,
  runAction,
  startAction,
  strayStderrLines,
  waitForNewHeartbeat,
  wipeGuest,
  writeGuestTemplate,
  type ActionRun,
  type Guest,
} from './helpers/faults-run.js';
import {
  ensureTestbed,
  hostRun,
  killSshd,
  setLinkDown,
  setLinkUp,
  startLibvirtd,
  startSshd,
  stopLibvirtd,
  type TestbedHost,
  type TestbedInfo,
} from './helpers/testbed.js';

// The steps (src/actions) each action can fail in before it reaches the host's domain.
const POLL_STEP = /read domain statistics/;
const SHUTDOWN_STEP = /read domain state|send ACPI shutdown/;
const DEPLOY_STEP = /read domain state|write deployment file|create domain/;

// SSH_CONNECT_TIMEOUT=3 → the action must be over well within this.
const BOUND_MS = 20_000;
const FAST_CONNECT = { SSH_CONNECT_TIMEOUT: '3' };

// VM ids of this file.
const MAIN_VM = 500; // plain guest, shared by the link, libvirtd and hung-command tests
const KEY_VM = 501; // never created: the host key tests' deploy must be refused before anything runs
const NOACPI_VM = 502; // ignores the ACPI power button (tb_noacpid)

let info: TestbedInfo;
let h1: TestbedHost;
let work: string;
let main: Guest | undefined;

// A failed action: exited by itself, non-zero, in time, with one error line naming the host and the step.
function expectFailure(run: ActionRun, host: TestbedHost, step: RegExp, boundMs = BOUND_MS): string {
  const shown = describeRun(run);
  expect(run.killed, shown).toBe(false);
  expect(run.code, shown).not.toBe(0);
  expect(run.code, shown).not.toBeNull();
  expect(run.ms, shown).toBeLessThan(boundMs);
  const line = errorLine(run);
  expect(line, shown).toContain(host.address);
  expect(strayStderrLines(run), `one error line only: ${shown}`).toEqual([]);
  expect.soft(line, `the error line names the step (${String(step)})`).toMatch(step);
  return line;
}

// The guest runs: libvirt says so, the driver's poll says so, and it prints a fresh heartbeat.
async function expectGuestRunning(guest: Guest): Promise<void> {
  expect(domainState(guest.host, guest.name)).toEqual({ state: 'running', error: '' });
  const poll = await runAction(info, 'poll', [guest.name, String(guest.vmId), guest.host.address]);
  expect(poll.code, describeRun(poll)).toBe(0);
  expect(poll.stdout).toMatch(/^STATE=a CPU=/);
  await waitForNewHeartbeat(guest.host, guest.name);
}

function mainGuest(): Guest {
  if (!main) throw new Error('the main guest was not deployed (see beforeAll)');
  return main;
}

beforeAll(async () => {
  info = await ensureTestbed(2);
  const first = info.hosts.find((h) => h.index === 1);
  if (!first) throw new Error('the testbed has no host 1');
  h1 = first;
  work = mkdtempSync(path.join(tmpdir(), 'onevmm-faults-'));
  for (const vmId of [MAIN_VM, KEY_VM, NOACPI_VM]) wipeGuest(h1, vmId);
  main = await deployGuest(info, h1, work, MAIN_VM);
}, 300_000);

afterAll(async () => {
  // Safety net: every fault undone even if a test's own `finally` did not get that far.
  if (h1) {
    setLinkUp(h1);
    startSshd(h1);
    try {
      thawProcess(libvirtdPid(h1));
    } catch {
      // libvirtd is not running: started below
    }
    startLibvirtd(h1);
    if (main) await removeGuest(info, main);
    for (const vmId of [MAIN_VM, KEY_VM, NOACPI_VM]) wipeGuest(h1, vmId);
  }
  if (work) rmSync(work, { recursive: true, force: true });
}, 120_000);

describe('faults on a hypervisor host', () => {
  it('host unreachable (link down): poll and shutdown fail in bounded time naming the host; the guest survives', async () => {
    const guest = mainGuest();
    await expectGuestRunning(guest);
    const args = [guest.name, String(guest.vmId), h1.address];
    setLinkDown(h1);
    try {
      const poll = await runAction(info, 'poll', args, { env: FAST_CONNECT });
      expectFailure(poll, h1, POLL_STEP);
      expect(poll.stdout, 'no poll line for a host that cannot be asked').toBe('');

      const pollAll = await runAction(info, 'poll', ['-t', h1.address], { env: FAST_CONNECT });
      expectFailure(pollAll, h1, POLL_STEP);
      expect(pollAll.stdout, 'never "all VMs off"').toBe('');

      const shutdown = await runAction(info, 'shutdown', args, { env: FAST_CONNECT });
      expectFailure(shutdown, h1, SHUTDOWN_STEP);
    } finally {
      setLinkUp(h1);
    }
    await expectGuestRunning(guest);
  });

  it('sshd killed while shutdown waits for an ACPI-ignoring guest: transport error in bounded time; the VM still runs', async () => {
    let guest: Guest | undefined;
    try {
      guest = await deployGuest(info, h1, work, NOACPI_VM, { noAcpi: true });
      const shutdown = startAction(info, 'shutdown', [guest.name, String(guest.vmId), h1.address], {
        env: { ...FAST_CONNECT, SHUTDOWN_TIMEOUT: '30', FORCE_DESTROY: 'no' },
      });
      try {
        // Long enough to have pressed the button and be polling the domain state.
        await sleep(4000);
        expect(shutdown.running(), 'shutdown is still waiting for the guest when sshd dies').toBe(true);
        killSshd(h1);
        const killedAt = performance.now();
        const run = await shutdown.done;
        const afterKillMs = performance.now() - killedAt;
        const line = expectFailure(run, h1, SHUTDOWN_STEP, 4000 + BOUND_MS);
        expect(afterKillMs, describeRun(run)).toBeLessThan(BOUND_MS);
        // Depending on the moment: the connection drops, a channel is refused, or the reconnect is refused.
        expect(line).toMatch(/connect|connection|channel|lost|refused|reset|closed/i);
      } finally {
        startSshd(h1);
        await shutdown.done;
      }
      await expectGuestRunning(guest);
      const cancel = await runAction(info, 'cancel', [guest.name, String(guest.vmId), h1.address]);
      expect(cancel.code, describeRun(cancel)).toBe(0);
      expect(domainState(h1, guest.name).state).toBe('');
    } finally {
      if (guest) await removeGuest(info, guest);
      else wipeGuest(h1, NOACPI_VM);
    }
  });

  it("libvirtd stopped: poll and poll -t fail with libvirt's socket error, never STATE=d or an empty VM list", async () => {
    const guest = mainGuest();
    await expectGuestRunning(guest);
    stopLibvirtd(h1);
    try {
      // Generous: transport errors may be retried (VIRSH_RETRIES) before the action gives up.
      const poll = await runAction(info, 'poll', [guest.name, String(guest.vmId), h1.address], {
        env: FAST_CONNECT,
      });
      const line = expectFailure(poll, h1, POLL_STEP, 30_000);
      expect(line).toMatch(/failed to connect socket/i);
      expect(poll.stdout, 'never STATE=d for a VM whose host cannot be asked').toBe('');

      const pollAll = await runAction(info, 'poll', ['-t', h1.address], { env: FAST_CONNECT });
      const lineAll = expectFailure(pollAll, h1, POLL_STEP, 30_000);
      expect(lineAll).toMatch(/failed to connect socket/i);
      expect(pollAll.stdout, 'never "VM_POLL=YES" with no VMs').toBe('');
    } finally {
      startLibvirtd(h1);
    }
    await expectGuestRunning(guest);
  });

  describe('host keys', () => {
    const deployArgs = (): string[] => [
      '--template',
      writeGuestTemplate(info, work, KEY_VM, false),
      deploymentFileOf(KEY_VM),
      h1.address,
    ];
    const knownHostsLines = (): string[] =>
      readFileSync(info.knownHosts, 'utf8')
        .split('\n')
        .filter((line) => line.trim() !== '');
    // The testbed's known_hosts line of a host: `tb-hN,10.77.0.1N <type> <key>`.
    const keyOf = (host: TestbedHost): { type: string; key: string } => {
      const line = knownHostsLines().find((l) => l.split(' ')[0]?.split(',').includes(host.address));
      const [, type, key] = line?.split(' ') ?? [];
      if (!type || !key) throw new Error(`no key for ${host.address} in ${info.knownHosts}`);
      return { type, key };
    };
    // Nothing ran on the host: no domain, no deployment file.
    const expectNothingRan = (): void => {
      expect(domainState(h1, `one-${KEY_VM}`).error).toMatch(/failed to get domain|domain not found/i);
      const file = hostRun(h1, ['test', '-e', deploymentFileOf(KEY_VM)]);
      expect(file.status, 'the deployment file was not written').not.toBe(0);
    };

    it('strict policy, host missing from known_hosts: refused naming the host and the file; nothing ran', async () => {
      wipeGuest(h1, KEY_VM);
      const knownHosts = path.join(work, 'known_hosts.without-h1');
      writeFileSync(
        knownHosts,
        knownHostsLines()
          .filter((line) => !line.split(' ')[0]?.split(',').includes(h1.address))
          .map((line) => `${line}\n`)
          .join(''),
      );
      expect(readFileSync(knownHosts, 'utf8')).not.toContain(h1.address);
      const run = await runAction(info, 'deploy', [...deployArgs(), String(KEY_VM), h1.address], {
        env: { ...FAST_CONNECT, SSH_KNOWN_HOSTS: knownHosts, SSH_HOST_KEY_POLICY: 'strict' },
      });
      const line = expectFailure(run, h1, DEPLOY_STEP);
      expect(line).toContain(knownHosts);
      expect(line).toMatch(/host key/i);
      expect(run.stdout).toBe('');
      expectNothingRan();
    });

    it("strict policy, another host's key for the address: refused naming the host and the file; nothing ran", async () => {
      wipeGuest(h1, KEY_VM);
      const other = info.hosts.find((h) => h.address !== h1.address);
      if (!other) throw new Error('the testbed needs two hosts');
      const { type, key } = keyOf(other);
      expect(key).not.toBe(keyOf(h1).key);
      const knownHosts = path.join(work, 'known_hosts.mismatch');
      writeFileSync(knownHosts, `${h1.address} ${type} ${key}\n`);
      const run = await runAction(info, 'deploy', [...deployArgs(), String(KEY_VM), h1.address], {
        env: { ...FAST_CONNECT, SSH_KNOWN_HOSTS: knownHosts, SSH_HOST_KEY_POLICY: 'strict' },
      });
      const line = expectFailure(run, h1, DEPLOY_STEP);
      expect(line).toContain(knownHosts);
      expect(line).toMatch(/does not match/i);
      expect(run.stdout).toBe('');
      expectNothingRan();
    });

    it('accept-new on an empty known_hosts: works and records the key, which strict then accepts', async () => {
      const knownHosts = path.join(work, 'known_hosts.empty');
      writeFileSync(knownHosts, '');
      const run = await runAction(info, 'poll', ['-t', h1.address], {
        env: { ...FAST_CONNECT, SSH_KNOWN_HOSTS: knownHosts, SSH_HOST_KEY_POLICY: 'accept-new' },
      });
      expect(run.code, describeRun(run)).toBe(0);
      expect(run.stdout).toMatch(/^VM_POLL=YES/);
      expect(run.stdout).toContain(`DEPLOY_ID=one-${MAIN_VM}`);
      const { type, key } = keyOf(h1);
      expect(readFileSync(knownHosts, 'utf8').trim().split('\n')).toEqual([`${h1.address} ${type} ${key}`]);

      const strict = await runAction(info, 'poll', ['-t', h1.address], {
        env: { ...FAST_CONNECT, SSH_KNOWN_HOSTS: knownHosts, SSH_HOST_KEY_POLICY: 'strict' },
      });
      expect(strict.code, describeRun(strict)).toBe(0);
      expect(strict.stdout).toContain(`DEPLOY_ID=one-${MAIN_VM}`);
    });
  });

  it('a command hung past COMMAND_TIMEOUT (libvirtd frozen): timeout error in bounded time, nothing left running', async () => {
    const guest = mainGuest();
    await expectGuestRunning(guest);
    expect(leftoverCommands(h1), 'no onevmm command runs on the host before').toEqual([]);
    const pid = libvirtdPid(h1);
    await freezeProcess(pid);
    try {
      const run = await runAction(info, 'poll', [guest.name, String(guest.vmId), h1.address], {
        env: { ...FAST_CONNECT, COMMAND_TIMEOUT: '3' },
      });
      const line = expectFailure(run, h1, POLL_STEP, 15_000);
      expect(run.ms, 'not before COMMAND_TIMEOUT').toBeGreaterThanOrEqual(3000);
      expect.soft(line, 'the error says the command timed out').toMatch(/timed out|timeout/i);
      expect(run.stdout).toBe('');
      await sleep(2000);
      expect(leftoverCommands(h1), 'nothing left running on the host').toEqual([]);
    } finally {
      thawProcess(pid);
    }
    await expectGuestRunning(guest);
  });
});
