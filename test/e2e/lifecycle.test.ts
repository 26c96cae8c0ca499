// The life of a real guest through the action executables (remotes/vmm/kvm/*), issue 3 §4.1:
// deploy → boot → poll → reboot → reset → save/restore → shutdown → deploy again → cancel, on tb-h1,
// and deploy + poll -t + cancel on tb-h2. VM ids 200-299 belong to this file.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  boots,
  cancelDomain,
  describeRun,
  domainName,
  guestDomainXml,
  heartbeats,
  hostDomains,
  jsonResult,
  parsePollLine,
  POLL_KEYS,
  readPoll,
  removeSerialLog,
  runAction,
  serialOffset,
  waitForSerialAfter,
} from './helpers/guest.js';
import {
  ensureTestbed,
  hostExec,
  hostRun,
  readSerialLog,
  type TestbedHost,
  type TestbedInfo,
} from './helpers/testbed.js';

const VM1 = 200; // on tb-h1: the whole lifecycle
const VM2 = 201; // on tb-h2: deploy, poll -t, cancel
const DOM1 = domainName(VM1);
const DOM2 = domainName(VM2);
const BOOT_MS = 90_000; // TCG on a loaded 2-core machine: 3-15 s is normal, allow much more

let tb: TestbedInfo;
let h1: TestbedHost;
let h2: TestbedHost;
let work: string;
let xml1: string;
let xml2: string;

const deploymentFile = (vmId: number): string => path.join(work, String(vmId), 'deployment.0');

// Generous: each step waits for a boot under TCG on a loaded machine.
describe('lifecycle of a real guest through the action executables', { timeout: 300_000 }, () => {
  beforeAll(async () => {
    tb = await ensureTestbed(2);
    [h1, h2] = tb.hosts as [TestbedHost, TestbedHost];
    work = mkdtempSync(path.join(tmpdir(), 'onevmm-e2e-lifecycle-'));
    // Leftovers of an interrupted earlier run.
    await Promise.all([cancelDomain(tb, h1, DOM1), cancelDomain(tb, h2, DOM2)]);
    removeSerialLog(h1, DOM1);
    removeSerialLog(h2, DOM2);
    [xml1, xml2] = await Promise.all([
      guestDomainXml(tb, work, { vmId: VM1 }),
      guestDomainXml(tb, work, { vmId: VM2 }),
    ]);
  });

  afterAll(async () => {
    if (tb === undefined) return;
    await Promise.all([cancelDomain(tb, h1, DOM1), cancelDomain(tb, h2, DOM2)]);
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  it('deploy prints the UUID of a new domain, and the guest boots', async () => {
    const run = await runAction(tb, 'deploy', [deploymentFile(VM1), h1.address, String(VM1), h1.address], {
      stdin: xml1,
    });
    expect(run.code, describeRun(run)).toBe(0);
    const uuid = run.stdout.trim();
    expect(uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(run.stdout).toBe(`${uuid}\n`); // stdout carries only the result
    expect(hostExec(h1, ['virsh', '--connect', 'qemu:///system', 'domuuid', DOM1]).trim()).toBe(uuid);
    // The deployment file was written on the host.
    expect(hostRun(h1, ['test', '-s', deploymentFile(VM1)]).status).toBe(0);
    await waitForSerialAfter(h1, DOM1, 0, /^TB-GUEST-UP/m, BOOT_MS);
  });

  it('poll shows the running VM with its counters', async () => {
    const line = await readPoll(tb, h1, DOM1, VM1);
    const fields = parsePollLine(line);
    expect([...fields.keys()]).toEqual(POLL_KEYS);
    expect(fields.get('STATE')).toBe('a');
    expect(Number(fields.get('MEMORY'))).toBeGreaterThan(0);
    expect(fields.get('CPU')).toMatch(/^\d+(\.\d+)?$/);
    for (const key of POLL_KEYS.slice(3)) expect(fields.get(key), key).toMatch(/^\d+$/);
  });

  it('poll -t reports every VM of the host with VM_POLL=YES', async () => {
    const run = await runAction(tb, 'poll', ['-t', h1.address]);
    expect(run.code, describeRun(run)).toBe(0);
    const out = run.stdout.trim();
    expect(out.split('\n')).toHaveLength(1);
    expect(out).toMatch(/^VM_POLL=YES( |$)/);
    const vm = new RegExp(`VM=\\[ ID=${VM1}, DEPLOY_ID=${DOM1}, POLL="([^"]*)" \\]`).exec(out);
    expect(vm, out).not.toBeNull();
    expect(parsePollLine(vm![1]!).get('STATE')).toBe('a');
    // tb-h2's VM is not reported by tb-h1.
    expect(out).not.toContain(`ID=${VM2},`);
  });

  it('reboot: the guest boots again', async () => {
    const offset = serialOffset(h1, DOM1);
    const run = await runAction(tb, 'reboot', [DOM1, String(VM1), h1.address]);
    expect(run.code, describeRun(run)).toBe(0);
    expect(run.stdout).toBe('');
    await waitForSerialAfter(h1, DOM1, offset, /^TB-GUEST-UP/m, BOOT_MS);
  });

  it('reset: the guest boots again, without a power button press', async () => {
    // Reset once the rebooted guest is up and beating.
    await waitForSerialAfter(
      h1,
      DOM1,
      readSerialLog(h1, DOM1).lastIndexOf('TB-GUEST-UP'),
      /^TB-HB /m,
      BOOT_MS,
    );
    const offset = serialOffset(h1, DOM1);
    const run = await runAction(tb, 'reset', [DOM1, String(VM1), h1.address]);
    expect(run.code, describeRun(run)).toBe(0);
    expect(run.stdout).toBe('');
    const after = await waitForSerialAfter(h1, DOM1, offset, /^TB-GUEST-UP/m, BOOT_MS);
    // A hardware reset, not ACPI: the guest never saw the power button.
    expect(after).not.toContain('TB-POWEROFF');
    expect(await readPoll(tb, h1, DOM1, VM1)).toMatch(/^STATE=a /);
  });

  it('save and restore: the guest carries on where it stopped (not rebooted)', async () => {
    // A few heartbeats after the reset's boot.
    await waitForSerialAfter(
      h1,
      DOM1,
      readSerialLog(h1, DOM1).lastIndexOf('TB-GUEST-UP'),
      /^TB-HB 2 /m,
      BOOT_MS,
    );
    const checkpoint = path.join(work, String(VM1), 'checkpoint');
    const saved = await runAction(tb, 'save', [DOM1, checkpoint, h1.address, String(VM1), h1.address]);
    expect(saved.code, describeRun(saved)).toBe(0);
    expect(saved.stdout).toBe('');
    expect(hostRun(h1, ['test', '-s', checkpoint]).status, 'checkpoint on the host').toBe(0);
    expect(await readPoll(tb, h1, DOM1, VM1)).toBe('STATE=d');

    // The guest is frozen: its last heartbeat so far is the one before the save.
    const before = readSerialLog(h1, DOM1);
    const lastBoot = before.lastIndexOf('TB-GUEST-UP');
    const beats = heartbeats(before.slice(lastBoot));
    const lastBeat = beats[beats.length - 1]!;
    expect(lastBeat).toBeGreaterThanOrEqual(2);

    const restored = await runAction(tb, 'restore', [checkpoint, h1.address, DOM1, String(VM1), h1.address]);
    expect(restored.code, describeRun(restored)).toBe(0);
    expect(restored.stdout).toBe('');
    expect(await readPoll(tb, h1, DOM1, VM1)).toMatch(/^STATE=a /);

    // Heartbeats continue past the pre-save count; no new boot.
    const after = await waitForSerialAfter(
      h1,
      DOM1,
      before.length,
      new RegExp(`^TB-HB (${lastBeat + 1}|${lastBeat + 2}) `, 'm'),
      BOOT_MS,
    );
    expect(boots(after)).toBe(0);
    const next = heartbeats(after);
    expect(next.length).toBeGreaterThan(0);
    expect(next.every((n) => n > lastBeat)).toBe(true);
    expect(next[0]).toBeLessThanOrEqual(lastBeat + 2);
  });

  it('shutdown: the guest sees the power button and the domain is gone', async () => {
    const offset = serialOffset(h1, DOM1);
    const run = await runAction(tb, 'shutdown', ['--json', DOM1, String(VM1), h1.address]);
    expect(run.code, describeRun(run)).toBe(0);
    const result = jsonResult(run);
    expect(result).toMatchObject({ action: 'shutdown', ok: true, outcome: 'powered-off' });
    // The guest powers off ~0.5 s after the button; shutdown's own measure of its run (not wall
    // time: node's start-up and the SSH handshake are not counted) must be close behind. Generous
    // bound for a loaded machine.
    expect(result['seconds']).toBeLessThanOrEqual(2);
    expect(readSerialLog(h1, DOM1).slice(offset)).toContain('TB-POWEROFF');
    expect(await readPoll(tb, h1, DOM1, VM1)).toBe('STATE=d');
    expect(hostDomains(h1)).not.toContain(DOM1);
  });

  it('deploy again, then cancel destroys it', async () => {
    const offset = serialOffset(h1, DOM1);
    const run = await runAction(
      tb,
      'deploy',
      ['--json', deploymentFile(VM1), h1.address, String(VM1), h1.address],
      { stdin: xml1 },
    );
    expect(run.code, describeRun(run)).toBe(0);
    expect(jsonResult(run)).toMatchObject({ action: 'deploy', ok: true, name: DOM1, created: true });
    await waitForSerialAfter(h1, DOM1, offset, /^TB-GUEST-UP/m, BOOT_MS);
    expect(await readPoll(tb, h1, DOM1, VM1)).toMatch(/^STATE=a /);

    const cancel = await runAction(tb, 'cancel', ['--json', DOM1, String(VM1), h1.address]);
    expect(cancel.code, describeRun(cancel)).toBe(0);
    expect(jsonResult(cancel)).toMatchObject({ action: 'cancel', ok: true, wasRunning: true });
    expect(await readPoll(tb, h1, DOM1, VM1)).toBe('STATE=d');
    expect(hostDomains(h1)).not.toContain(DOM1);
  });

  it('the second host: deploy, poll -t, cancel on tb-h2', async () => {
    const run = await runAction(tb, 'deploy', [deploymentFile(VM2), h2.address, String(VM2), h2.address], {
      stdin: xml2,
    });
    expect(run.code, describeRun(run)).toBe(0);
    const uuid = run.stdout.trim();
    expect(hostExec(h2, ['virsh', '--connect', 'qemu:///system', 'domuuid', DOM2]).trim()).toBe(uuid);
    expect(hostDomains(h1)).not.toContain(DOM2);
    await waitForSerialAfter(h2, DOM2, 0, /^TB-GUEST-UP/m, BOOT_MS);

    const polled = await runAction(tb, 'poll', ['-t', h2.address]);
    expect(polled.code, describeRun(polled)).toBe(0);
    expect(polled.stdout).toMatch(/^VM_POLL=YES /);
    const vm = new RegExp(`VM=\\[ ID=${VM2}, DEPLOY_ID=${DOM2}, POLL="([^"]*)" \\]`).exec(polled.stdout);
    expect(vm, polled.stdout).not.toBeNull();
    const fields = parsePollLine(vm![1]!);
    expect([...fields.keys()]).toEqual(POLL_KEYS);
    expect(fields.get('STATE')).toBe('a');
    expect(Number(fields.get('MEMORY'))).toBeGreaterThan(0);

    const cancel = await runAction(tb, 'cancel', [DOM2, String(VM2), h2.address]);
    expect(cancel.code, describeRun(cancel)).toBe(0);
    expect(cancel.stdout).toBe('');
    expect(await readPoll(tb, h2, DOM2, VM2)).toBe('STATE=d');
    const after = await runAction(tb, 'poll', ['-t', h2.address]);
    expect(after.code, describeRun(after)).toBe(0);
    expect(after.stdout).not.toContain(`ID=${VM2},`);
  });
});
