// Hostile values (quotes, ;, $(…), backticks, newlines, leading dashes) in the VM name, the
// deployment and checkpoint paths and the deploy id, through the action executables (issue 3 §4.3).
// Nothing may run on a host or on the front-end: every injected command would create a canary
// file, and none may exist afterwards. Actions may fail, but with one clean line on stderr.
// VM ids 400-499 belong to this file.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  cancelDomain,
  describeRun,
  destroyByUuid,
  domainName,
  failureLine,
  guestDomainXml,
  heartbeats,
  hostDomains,
  hostDomainUuids,
  otherLines,
  parsePollLine,
  readPoll,
  removeSerialLog,
  ROOT,
  runAction,
  runProgram,
  serialOffset,
  waitForSerialAfter,
  type ActionRun,
  type RunOptions,
} from './helpers/guest.js';
import {
  ensureTestbed,
  hostRun,
  readSerialLog,
  type TestbedHost,
  type TestbedInfo,
} from './helpers/testbed.js';

const BOOT_MS = 90_000;
const TOKEN = randomBytes(4).toString('hex');
const CANARY = `onevmm-canary-${TOKEN}`;

let tb: TestbedInfo;
let h1: TestbedHost;
let h2: TestbedHost;
let work: string;
// The actions' working directory on the front-end: a relative `touch` would land here.
let cwd: string;
// Every file an injected command would create.
const absoluteCanaries: string[] = [];
const relativeCanaries: string[] = [];
// Domains to remove after each test: by name through cancel, and by UUID directly.
const started: { host: TestbedHost; domain: string }[] = [];
const uuidsBefore = new Map<string, Set<string>>();

// A value that runs `touch <canary>` through every shell construct: quotes, ;, $(…), backticks,
// newlines, &&, |, >. With slashes the canaries are absolute (/tmp/…), else relative to the
// command's working directory (a libvirt domain name cannot hold '/'). Without newlines for
// values that cannot hold one (a VM NAME becomes libvirt's one-line <title>).
function hostile(tag: string, options: { slash?: boolean; newline?: boolean } = {}): string {
  const slash = options.slash ?? true;
  const newline = options.newline ?? true;
  const canary = (n: number): string => {
    const name = `${CANARY}-${tag}-${n}`;
    if (slash) {
      absoluteCanaries.push(`/tmp/${name}`);
      return `/tmp/${name}`;
    }
    relativeCanaries.push(name);
    return name;
  };
  const nl = newline ? '\n' : ' ';
  return (
    `x'y"z;touch ${canary(1)};$(touch ${canary(2)})\`touch ${canary(3)}\`` +
    `${nl}touch ${canary(4)}${nl}'; touch ${canary(5)}; '"; touch ${canary(6)}; "` +
    ` && touch ${canary(7)} | touch ${canary(8)} > ${canary(9)} #`
  );
}

// A shorter one for libvirt domain names: libvirt names files after the domain (<name>.pid, with
// its XML escapes), and a file name is at most 255 bytes. Relative canaries (a name has no '/').
function hostileName(tag: string, newline: boolean): string {
  const canary = (n: number): string => {
    const name = `oc${TOKEN}${tag}${n}`;
    relativeCanaries.push(name);
    return name;
  };
  const nl = newline ? '\n' : ' ';
  return `x'y";touch ${canary(1)};$(touch ${canary(2)})\`touch ${canary(3)}\`${nl}touch ${canary(4)} #`;
}

function run(action: string, args: readonly string[], options: RunOptions = {}): Promise<ActionRun> {
  return runAction(tb, action, args, { cwd, ...options });
}

// Success, or a failure with exactly one clean error line; either way every other stderr line is
// a LOG line (INFO:/WARNING:/ERROR:), one line each. Soft: a test reports every unclean action.
function expectCleanOutcome(result: ActionRun, what: string): void {
  const shown = `${what}: ${describeRun(result)}`;
  expect.soft(result.signal, shown).toBeNull();
  if (result.code === 0) {
    expect.soft(otherLines(result.stderr), shown).toEqual([]);
  } else {
    expect.soft(result.code, shown).toBe(1);
    expect.soft(result.stdout, shown).toBe('');
    expect.soft(() => failureLine(result), shown).not.toThrow();
  }
}

// No canary anywhere: not at its absolute path on a host or the front-end, not in a host's home
// (where ssh sessions start), not in the actions' working directory or the repository, and no
// stray file with the token at the top of /tmp, /root or / on any host.
function expectNoCanary(): void {
  const found: string[] = [];
  for (const file of absoluteCanaries) if (existsSync(file)) found.push(`front-end:${file}`);
  for (const name of relativeCanaries) {
    for (const dir of [cwd, ROOT, process.cwd()])
      if (existsSync(path.join(dir, name))) found.push(`front-end:${dir}/${name}`);
  }
  for (const host of tb.hosts) {
    for (const file of [...absoluteCanaries, ...relativeCanaries.map((name) => `/root/${name}`)]) {
      if (hostRun(host, ['test', '-e', file]).status === 0) found.push(`${host.name}:${file}`);
    }
    const listing = hostRun(host, ['ls', '-A', '/tmp', '/root', '/']).stdout;
    for (const entry of listing.split('\n')) if (entry.includes(TOKEN)) found.push(`${host.name}: ${entry}`);
  }
  for (const dir of ['/tmp', cwd]) {
    for (const entry of readdirSync(dir)) if (entry.includes(TOKEN)) found.push(`front-end:${dir}/${entry}`);
  }
  expect(found, 'canary files: an injected command ran').toEqual([]);
}

// The XML of a guest whose libvirt <name> is `name` (XML-escaped by hand: the value is the test).
async function guestXmlNamed(vmId: number, name: string, ignoreAcpi = false): Promise<string> {
  const xml = await guestDomainXml(tb, work, { vmId, ignoreAcpi });
  const escaped = name
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/'/g, '&apos;')
    .replace(/"/g, '&quot;')
    .replace(/\n/g, '&#10;');
  const renamed = xml.replace(`<name>${domainName(vmId)}</name>`, () => `<name>${escaped}</name>`);
  expect(renamed).not.toBe(xml);
  return renamed;
}

// Generous: under load (other work on this 2-core machine) one test can take well over a minute.
describe('hostile values never run anything', { timeout: 300_000 }, () => {
  beforeAll(async () => {
    tb = await ensureTestbed(2);
    [h1, h2] = tb.hosts as [TestbedHost, TestbedHost];
    work = mkdtempSync(path.join(tmpdir(), 'onevmm-e2e-hostile-'));
    cwd = mkdtempSync(path.join(tmpdir(), 'onevmm-e2e-hostile-cwd-'));
    for (const host of tb.hosts) uuidsBefore.set(host.name, new Set(hostDomainUuids(host)));
  });

  afterEach(async () => {
    await Promise.all(started.splice(0).map(({ host, domain }) => cancelDomain(tb, host, domain)));
    // Domains with hostile names: whatever this file created and is still there goes, by UUID.
    for (const host of tb.hosts) {
      const before = uuidsBefore.get(host.name) ?? new Set();
      for (const uuid of hostDomainUuids(host)) if (!before.has(uuid)) destroyByUuid(host, uuid);
    }
    expectNoCanary();
  });

  afterAll(() => {
    if (tb !== undefined) expectNoCanary();
    for (const dir of [work, cwd]) if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('a hostile VM NAME in the template: the guest deploys and runs, nothing is executed', async () => {
    const vmId = 400;
    const domain = domainName(vmId);
    await cancelDomain(tb, h1, domain);
    removeSerialLog(h1, domain);
    const name = hostile('name', { newline: false });
    const xml = await guestDomainXml(tb, work, { vmId, name });
    started.push({ host: h1, domain });
    const deployment = path.join(work, String(vmId), 'deployment.0');
    const deployed = await run('deploy', [deployment, h1.address, String(vmId), h1.address], { stdin: xml });
    expect(deployed.code, describeRun(deployed)).toBe(0);
    await waitForSerialAfter(h1, domain, 0, /^TB-GUEST-UP/m, BOOT_MS);
    expect(await readPoll(tb, h1, domain, vmId)).toMatch(/^STATE=a /);
    // The name reached libvirt as data.
    const title = hostRun(h1, ['virsh', '--connect', 'qemu:///system', 'desc', '--title', domain]);
    expect(title.stdout.trim()).toBe(name);
    const cancelled = await run('cancel', [domain, String(vmId), h1.address]);
    expect(cancelled.code, describeRun(cancelled)).toBe(0);

    // A NAME with a line break is refused by the translation with one clean line.
    const broken = path.join(work, 'broken.tmpl');
    writeFileSync(broken, `NAME = "${hostile('name-nl').replace(/"/g, '\\"')}"\nMEMORY = 128\nCPU = 1\n`);
    const onevmm = path.join(ROOT, 'bin', 'onevmm');
    const translated = await runProgram(tb, onevmm, ['translate', broken, '--vm-id', '401'], { cwd });
    expect(translated.code, describeRun(translated)).not.toBe(0);
    expect(otherLines(translated.stderr), describeRun(translated)).toHaveLength(1);
  });

  it('hostile deployment file and checkpoint paths are used as plain paths', async () => {
    const vmId = 402;
    const domain = domainName(vmId);
    await cancelDomain(tb, h2, domain);
    removeSerialLog(h2, domain);
    const xml = await guestDomainXml(tb, work, { vmId });
    const deployment = path.join(work, hostile('deployment'), 'deployment.0');
    started.push({ host: h2, domain });
    const deployed = await run('deploy', [deployment, h2.address, String(vmId), h2.address], { stdin: xml });
    expectCleanOutcome(deployed, 'deploy');
    // Paths are data: nothing forbids them, so deploy should simply work, writing that exact file.
    expect(deployed.code, describeRun(deployed)).toBe(0);
    expect(hostRun(h2, ['test', '-s', deployment]).status, 'deployment file at its literal path').toBe(0);
    await waitForSerialAfter(h2, domain, 0, /^TB-HB 2 /m, BOOT_MS);

    const checkpoint = path.join(work, hostile('checkpoint'), 'checkpoint');
    const saved = await run('save', [domain, checkpoint, h2.address, String(vmId), h2.address]);
    expectCleanOutcome(saved, 'save');
    expect(saved.code, describeRun(saved)).toBe(0);
    expect(hostRun(h2, ['test', '-s', checkpoint]).status, 'checkpoint at its literal path').toBe(0);
    const before = readSerialLog(h2, domain);
    const lastBeat = heartbeats(before).pop() ?? 0;

    const restored = await run('restore', [checkpoint, h2.address, domain, String(vmId), h2.address]);
    expectCleanOutcome(restored, 'restore');
    expect(restored.code, describeRun(restored)).toBe(0);
    const after = await waitForSerialAfter(h2, domain, before.length, /^TB-HB \d+ /m, BOOT_MS);
    expect(heartbeats(after)[0]).toBeGreaterThan(lastBeat);

    // Saving over an existing checkpoint moves the old one aside (`mv` in a script, with the path).
    hostRun(h2, ['sh', '-c', 'echo old > "$1"', 'sh', checkpoint]);
    const again = await run('save', [domain, checkpoint, h2.address, String(vmId), h2.address]);
    expectCleanOutcome(again, 'save over a checkpoint');
    expect(again.code, describeRun(again)).toBe(0);
    const aside = hostRun(h2, ['ls', '-A', '--', path.dirname(checkpoint)]).stdout;
    expect(aside).toMatch(/^checkpoint\.\d+$/m);
    const cancelled = await run('cancel', [domain, String(vmId), h2.address]);
    expectCleanOutcome(cancelled, 'cancel');
  });

  // Every action on a real domain whose deploy id (libvirt name) is hostile. With a line break the
  // name also tests that LOG lines and error lines stay one line each.
  it.each([
    ['without line breaks', 403, false],
    ['with line breaks', 404, true],
  ])('a real domain with a hostile deploy id (%s): every action', async (_what, vmId, newline) => {
    const host = h1;
    const name = `one-${vmId}${hostileName(String(vmId), newline)}`;
    const xml = await guestXmlNamed(vmId, name, true);
    const serial = domainName(vmId); // the serial log keeps the plain name
    removeSerialLog(host, serial);
    const deployment = path.join(work, String(vmId), 'deployment.0');
    const deployed = await run('deploy', [deployment, host.address, String(vmId), host.address], {
      stdin: xml,
    });
    expectCleanOutcome(deployed, 'deploy');
    if (deployed.code !== 0) {
      // Refusing such a name is fine: then nothing may have been created.
      expect(hostDomainUuids(host).filter((uuid) => !uuidsBefore.get(host.name)?.has(uuid))).toEqual([]);
      return;
    }
    await waitForSerialAfter(host, serial, 0, /^TB-HB /m, BOOT_MS);

    const again = await run('deploy', [deployment, host.address, String(vmId), host.address], { stdin: xml });
    expectCleanOutcome(again, 'deploy again');
    expect(again.stdout).toBe(deployed.stdout);

    // The running domain is reported as running (never as gone).
    const polled = await run('poll', [name, String(vmId), host.address]);
    expectCleanOutcome(polled, 'poll');
    if (polled.code === 0)
      expect.soft(parsePollLine(polled.stdout).get('STATE'), `poll: ${describeRun(polled)}`).toBe('a');
    const all = await run('poll', ['-t', host.address]);
    expectCleanOutcome(all, 'poll -t');
    expect.soft(all.stdout.trim().split('\n'), 'poll -t prints one line').toHaveLength(1);

    for (const action of ['reboot', 'reset']) {
      expectCleanOutcome(await run(action, [name, String(vmId), host.address]), action);
    }
    const checkpoint = path.join(work, String(vmId), 'checkpoint');
    const saved = await run('save', [name, checkpoint, host.address, String(vmId), host.address]);
    expectCleanOutcome(saved, 'save');
    const restored = await run('restore', [checkpoint, host.address, name, String(vmId), host.address]);
    expectCleanOutcome(restored, 'restore');

    // The guest ignores ACPI: shutdown re-sends the button and destroys it, logging the name.
    const shutdown = await run('shutdown', [name, String(vmId), host.address], {
      env: { FORCE_DESTROY: 'yes', SHUTDOWN_TIMEOUT: '2', SHUTDOWN_RESEND: '1' },
    });
    expectCleanOutcome(shutdown, 'shutdown');
    for (const action of ['cancel', 'cleanup']) {
      expectCleanOutcome(await run(action, [name, String(vmId), host.address]), action);
    }
    expect(hostDomainUuids(host)).not.toContain(deployed.stdout.trim());
    // libvirt's own log of the domain is named after it.
    hostRun(host, ['rm', '-f', '--', `/var/log/libvirt/qemu/${name}.log`]);
  });

  // Deploy ids that name no domain: every action, each deploy id a different kind of hostile.
  it.each([
    ['shell metacharacters and absolute canaries', (): string => hostile('ghost-abs')],
    [
      'shell metacharacters and relative canaries',
      (): string => `one-499${hostile('ghost-rel', { slash: false })}`,
    ],
    [
      'command substitution only',
      (): string => {
        absoluteCanaries.push(`/tmp/${CANARY}-subst-only`);
        return `$(touch /tmp/${CANARY}-subst-only)`;
      },
    ],
  ])('actions on a missing domain with a hostile deploy id (%s)', async (_what, make) => {
    const id = make();
    const checkpoint = path.join(work, hostile('ghost-ckpt'), 'checkpoint');
    const runs: [string, string[]][] = [
      ['poll', [id, '499', h1.address]],
      ['reboot', [id, '499', h1.address]],
      ['reset', [id, '499', h1.address]],
      ['shutdown', [id, '499', h1.address]],
      ['cancel', [id, '499', h1.address]],
      ['cleanup', [id, '499', h1.address]],
      ['save', [id, checkpoint, h1.address, '499', h1.address]],
      ['restore', [checkpoint, h1.address, id, '499', h1.address]],
    ];
    for (const [action, args] of runs) {
      const result = await run(action, args);
      expectCleanOutcome(result, action);
      // Gone is gone: poll says so, shutdown and cancel succeed (OpenNebula's idempotency).
      if (action === 'poll') expect(result.stdout).toBe('STATE=d\n');
      if (action === 'cancel' || action === 'shutdown') expect(result.code, describeRun(result)).toBe(0);
    }
  });

  // A deploy id that looks like an option must stay a deploy id: virsh must not read it as
  // `--domain=<another VM>` (it comes from oned's payload or after `--`, unparsed by our CLI).
  it('a deploy id that looks like a virsh option does not reach another domain', async () => {
    const vmId = 405;
    const victim = domainName(vmId);
    await cancelDomain(tb, h2, victim);
    removeSerialLog(h2, victim);
    const xml = await guestDomainXml(tb, work, { vmId });
    started.push({ host: h2, domain: victim });
    const deployment = path.join(work, String(vmId), 'deployment.0');
    const deployed = await run('deploy', [deployment, h2.address, String(vmId), h2.address], { stdin: xml });
    expect(deployed.code, describeRun(deployed)).toBe(0);
    await waitForSerialAfter(h2, victim, 0, /^TB-GUEST-UP/m, BOOT_MS);
    const offset = serialOffset(h2, victim);
    const lastBeat = heartbeats(readSerialLog(h2, victim)).pop() ?? 0;

    const id = `--domain=${victim}`;
    for (const action of ['reboot', 'reset']) {
      expectCleanOutcome(await run(action, ['--', id, '499', h2.address]), action);
    }
    // Wait for ~10 s of heartbeats, or for signs of a reboot or reset (then the count restarts).
    await waitForSerialAfter(
      h2,
      victim,
      offset,
      new RegExp(`^(TB-GUEST-UP|TB-POWEROFF|TB-HB ${lastBeat + 5} )`, 'm'),
      BOOT_MS,
    );
    expect
      .soft(readSerialLog(h2, victim).slice(offset), `reboot/reset ${id} must not reboot or reset ${victim}`)
      .not.toMatch(/TB-GUEST-UP|TB-POWEROFF/);
    expectCleanOutcome(await run('cancel', ['--', id, '499', h2.address]), 'cancel');
    expect(hostDomains(h2), `cancel ${id} must not destroy ${victim}`).toContain(victim);
  });
});
