// Idempotent actions, a guest that ignores ACPI, and bad input, through the action executables
// (issue 3 §4.2). VM ids 300-399 belong to this file.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  cancelDomain,
  describeRun,
  domainName,
  failureLine,
  guestDomainXml,
  hostDomains,
  jsonResult,
  logLines,
  readPoll,
  removeSerialLog,
  runAction,
  serialOffset,
  waitForSerialAfter,
} from './helpers/guest.js';
import {
  ensureTestbed,
  hostRun,
  readSerialLog,
  type TestbedHost,
  type TestbedInfo,
} from './helpers/testbed.js';

const BOOT_MS = 90_000;

let tb: TestbedInfo;
let h1: TestbedHost;
let h2: TestbedHost;
let work: string;
// Domains a test started: cancelled after each test, whatever happened.
const started: { host: TestbedHost; domain: string }[] = [];

const deploymentFile = (vmId: number): string => path.join(work, String(vmId), 'deployment.0');

// Deploys the tiny guest as VM vmId on host and waits until it beats (acpid runs by then).
async function deployGuest(
  host: TestbedHost,
  vmId: number,
  options: { ignoreAcpi?: boolean } = {},
): Promise<string> {
  const domain = domainName(vmId);
  await cancelDomain(tb, host, domain); // leftovers of an interrupted run
  removeSerialLog(host, domain);
  const xml = await guestDomainXml(tb, work, { vmId, ...options });
  started.push({ host, domain });
  const run = await runAction(
    tb,
    'deploy',
    [deploymentFile(vmId), host.address, String(vmId), host.address],
    {
      stdin: xml,
    },
  );
  expect(run.code, describeRun(run)).toBe(0);
  await waitForSerialAfter(host, domain, 0, /^TB-HB /m, BOOT_MS);
  return run.stdout.trim();
}

// Generous: each guest test waits for a boot under TCG on a loaded machine.
describe('idempotent actions and bad input', { timeout: 300_000 }, () => {
  beforeAll(async () => {
    tb = await ensureTestbed(2);
    [h1, h2] = tb.hosts as [TestbedHost, TestbedHost];
    work = mkdtempSync(path.join(tmpdir(), 'onevmm-e2e-idempotency-'));
  });

  afterEach(async () => {
    await Promise.all(started.splice(0).map(({ host, domain }) => cancelDomain(tb, host, domain)));
  });

  afterAll(() => {
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  it('deploy twice: the same UUID, one domain, an INFO line the second time', async () => {
    const vmId = 300;
    const domain = domainName(vmId);
    const uuid = await deployGuest(h1, vmId);
    expect(uuid).toMatch(/^[0-9a-f-]{36}$/);
    const offset = serialOffset(h1, domain);

    const xml = await guestDomainXml(tb, work, { vmId });
    const again = await runAction(
      tb,
      'deploy',
      [deploymentFile(vmId), h1.address, String(vmId), h1.address],
      {
        stdin: xml,
      },
    );
    expect(again.code, describeRun(again)).toBe(0);
    expect(again.stdout).toBe(`${uuid}\n`);
    const info = logLines(again.stderr);
    expect(info, describeRun(again)).toHaveLength(1);
    expect(info[0]).toMatch(/^INFO: /);
    expect(info[0]).toContain(domain);
    expect(again.stderr).toBe(`${info[0]}\n`);
    expect(hostDomains(h1).filter((name) => name === domain)).toHaveLength(1);
    // The running guest was left alone: no new boot.
    await waitForSerialAfter(h1, domain, offset, /^TB-HB /m, BOOT_MS);
    expect(readSerialLog(h1, domain).slice(offset)).not.toContain('TB-GUEST-UP');
  });

  it('shutdown twice and cancel of a gone VM all succeed', async () => {
    const vmId = 301;
    const domain = domainName(vmId);
    await deployGuest(h2, vmId);
    const offset = serialOffset(h2, domain);

    const first = await runAction(tb, 'shutdown', ['--json', domain, String(vmId), h2.address]);
    expect(first.code, describeRun(first)).toBe(0);
    expect(jsonResult(first)).toMatchObject({ ok: true, outcome: 'powered-off' });
    expect(readSerialLog(h2, domain).slice(offset)).toContain('TB-POWEROFF');

    const second = await runAction(tb, 'shutdown', [domain, String(vmId), h2.address]);
    expect(second.code, describeRun(second)).toBe(0);
    expect(second.stdout).toBe('');

    const cancel = await runAction(tb, 'cancel', ['--json', domain, String(vmId), h2.address]);
    expect(cancel.code, describeRun(cancel)).toBe(0);
    expect(jsonResult(cancel)).toMatchObject({ ok: true, wasRunning: false });

    // A VM that never existed on the host: cancel and shutdown succeed too.
    for (const action of ['cancel', 'shutdown']) {
      const run = await runAction(tb, action, [domainName(399), '399', h2.address]);
      expect(run.code, `${action}: ${describeRun(run)}`).toBe(0);
      expect(run.stdout).toBe('');
    }
    expect(hostDomains(h2)).not.toContain(domain);
  });

  it('a guest that ignores ACPI is destroyed after SHUTDOWN_TIMEOUT with FORCE_DESTROY=yes', async () => {
    const vmId = 302;
    const domain = domainName(vmId);
    await deployGuest(h2, vmId, { ignoreAcpi: true });
    const run = await runAction(tb, 'shutdown', ['--json', domain, String(vmId), h2.address], {
      env: { FORCE_DESTROY: 'yes', SHUTDOWN_TIMEOUT: '4', SHUTDOWN_RESEND: '2' },
    });
    expect(run.code, describeRun(run)).toBe(0);
    const result = jsonResult(run);
    expect(result).toMatchObject({ ok: true, outcome: 'destroyed' });
    // Destroyed after the timeout, not before (a lower bound: cannot be flaky).
    expect(result['seconds']).toBeGreaterThanOrEqual(4);
    expect(run.stderr).toMatch(/destroy/i);
    for (const line of run.stderr.trim().split('\n')) expect(line).toMatch(/^(INFO|WARNING): /);
    expect(await readPoll(tb, h2, domain, vmId)).toBe('STATE=d');
    expect(hostDomains(h2)).not.toContain(domain);
    expect(readSerialLog(h2, domain)).not.toContain('TB-POWEROFF');
  });

  it('a guest that ignores ACPI makes shutdown fail with FORCE_DESTROY=no, and keeps running', async () => {
    const vmId = 303;
    const domain = domainName(vmId);
    await deployGuest(h1, vmId, { ignoreAcpi: true });
    const run = await runAction(tb, 'shutdown', [domain, String(vmId), h1.address], {
      env: { FORCE_DESTROY: 'no', SHUTDOWN_TIMEOUT: '4', SHUTDOWN_RESEND: '2' },
    });
    expect(run.code, describeRun(run)).not.toBe(0);
    expect(run.stdout).toBe('');
    const line = failureLine(run);
    expect(line).toContain(domain);
    expect(line).toContain(h1.address);
    expect(line).toMatch(/\b4 ?s\b|\b4 seconds\b/);
    // Still running, still beating.
    expect(await readPoll(tb, h1, domain, vmId)).toMatch(/^STATE=a /);
    expect(hostDomains(h1)).toContain(domain);
    const offset = serialOffset(h1, domain);
    await waitForSerialAfter(h1, domain, offset, /^TB-HB /m, BOOT_MS);
    expect(readSerialLog(h1, domain)).not.toContain('TB-POWEROFF');

    const cancel = await runAction(tb, 'cancel', [domain, String(vmId), h1.address]);
    expect(cancel.code, describeRun(cancel)).toBe(0);
    expect(hostDomains(h1)).not.toContain(domain);
  });

  it('reboot of an unknown deploy id fails with one line naming the host and libvirt’s message', async () => {
    const domain = domainName(398);
    const run = await runAction(tb, 'reboot', [domain, '398', h1.address]);
    expect(run.code, describeRun(run)).not.toBe(0);
    expect(run.stdout).toBe('');
    const line = failureLine(run);
    expect(line).toContain(h1.address);
    expect(line).toContain(domain);
    // libvirt's own words (older releases: "Domain not found: no domain with matching name").
    expect(line).toMatch(/failed to get domain|Domain not found/i);
  });

  it.each([
    ['an unclosed element', `<domain type='kvm'><name>one-397</name><memory>131072</memory`],
    ['text that is not XML', 'this is not a domain'],
    ['a document whose root is not <domain>', '<network><name>one-397</name></network>'],
    ['a <domain> without a <name>', "<domain type='kvm'><memory>131072</memory></domain>"],
  ])('deploy of malformed domain XML (%s) fails clearly and creates nothing', async (_what, xml) => {
    const vmId = 397;
    const domain = domainName(vmId);
    const file = deploymentFile(vmId);
    const run = await runAction(tb, 'deploy', [file, h1.address, String(vmId), h1.address], { stdin: xml });
    expect(run.code, describeRun(run)).not.toBe(0);
    expect(run.stdout).toBe('');
    failureLine(run);
    expect(hostRun(h1, ['test', '-e', path.dirname(file)]).status, 'deployment directory').not.toBe(0);
    expect(hostDomains(h1)).not.toContain(domain);
  });

  it('deploy of domain XML that libvirt rejects fails with libvirt’s message and creates no domain', async () => {
    const vmId = 396;
    const domain = domainName(vmId);
    started.push({ host: h1, domain });
    const xml = `<domain type='kvm'><name>${domain}</name><memory>131072</memory></domain>`; // no <os>
    const run = await runAction(tb, 'deploy', [deploymentFile(vmId), h1.address, String(vmId), h1.address], {
      stdin: xml,
    });
    expect(run.code, describeRun(run)).not.toBe(0);
    expect(run.stdout).toBe('');
    const line = failureLine(run);
    expect(line).toContain(h1.address);
    expect(line).toMatch(/error/i);
    expect(hostDomains(h1)).not.toContain(domain);
  });
});
