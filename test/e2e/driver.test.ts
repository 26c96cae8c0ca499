// bin/one_vmm_exec as oned drives it (issue 4 §4): the ARGUMENTS string as one argv element,
// request lines on stdin, reply lines on stdout, against real guests on tb-h3/tb-h4. A guest's whole
// life through the protocol; DRIVER_CANCEL of a pending shutdown; 40 CANCELs to an unreachable
// address; actions on a healthy host while other hosts are broken. VM ids 600-799 belong to the
// driver tests (this file and driver-scale.test.ts); tb-h1 belongs to other suites, and tb-h2 is only
// asked about domains that do not exist.
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DriverProcess, type Reply } from './helpers/driver-process.js';
import { deployPayload, domainPayload, requestLine, vmDir } from './helpers/driver-payload.js';
import {
  destroyOnHost,
  domainState,
  ensureDriverTestbed,
  hostNamed,
  libvirtdStopped,
  linkDown,
  sshdPid,
  underFaults,
} from './helpers/driver-testbed.js';
import { freezeProcess, thawProcess } from './helpers/faults-host.js';
import {
  boots,
  heartbeats,
  parsePollLine,
  POLL_KEYS,
  removeSerialLog,
  serialOffset,
  waitForSerialAfter,
} from './helpers/guest.js';
import {
  hostRun,
  readSerialLog,
  setLinkDown,
  setLinkUp,
  type TestbedHost,
  type TestbedInfo,
} from './helpers/testbed.js';

const ARGS = '-t 15 -r 0 kvm -p'; // oned.conf's kvm entry
const BOOT_MS = 90_000; // TCG on a loaded machine: 3-15 s is normal
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
// An address of the test subnet where no host answers (ARP fails: EHOSTUNREACH after ~3 s).
const NOWHERE = '10.77.0.99';

const LIFE_VM = 600; // tb-h3: deploy … cancel
const NOACPI_VM = 601; // tb-h4: ignores the power button
const UNREACHABLE_VMS = 700; // 700-739: CANCEL to NOWHERE
const ISOLATION_VMS = 740; // 740-779: actions on broken and healthy hosts
const HUNG_VMS = 780; // 780-799: actions on a host whose sshd is frozen

let tb: TestbedInfo;
let h2: TestbedHost;
let h3: TestbedHost;
let h4: TestbedHost;
const drivers: DriverProcess[] = [];

function startDriver(env: Readonly<Record<string, string>> = {}, args = ARGS): DriverProcess {
  const driver = DriverProcess.start(tb, { args, env });
  drivers.push(driver);
  return driver;
}

// Every stdout line so far is a protocol line, and no result line answered nothing.
function expectCleanOutput(driver: DriverProcess): void {
  expect(driver.badLines, 'stdout lines that are no protocol line').toEqual([]);
  expect(driver.unexpected, 'result lines that answer no request').toEqual([]);
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;

beforeAll(async () => {
  tb = await ensureDriverTestbed(4, ['tb-h2', 'tb-h3', 'tb-h4']);
  [h2, h3, h4] = ['tb-h2', 'tb-h3', 'tb-h4'].map((name) => hostNamed(tb, name)) as [
    TestbedHost,
    TestbedHost,
    TestbedHost,
  ];
  // Leftovers of an interrupted earlier run.
  destroyOnHost(h3, `one-${LIFE_VM}`);
  destroyOnHost(h4, `one-${NOACPI_VM}`);
  removeSerialLog(h3, `one-${LIFE_VM}`);
  removeSerialLog(h4, `one-${NOACPI_VM}`);
});

afterAll(async () => {
  await Promise.all(drivers.map((driver) => driver.kill()));
  if (tb === undefined) return;
  destroyOnHost(h3, `one-${LIFE_VM}`);
  destroyOnHost(h4, `one-${NOACPI_VM}`);
  for (const [host, vm] of [
    [h3, LIFE_VM],
    [h4, NOACPI_VM],
  ] as const)
    hostRun(host, ['rm', '-rf', '--', vmDir(tb, vm)]);
});

describe('a real guest through one_vmm_exec', () => {
  const DOM = `one-${LIFE_VM}`;
  let driver: DriverProcess;
  let uuid = '';
  const send = (action: string, payload?: string): Promise<Reply> =>
    driver.request(requestLine(action, LIFE_VM, payload));
  const onH3 = (options: { deployId?: string; checkpointFile?: string } = {}): string =>
    domainPayload(h3.address, LIFE_VM, options);

  beforeAll(async () => {
    driver = startDriver({ SHUTDOWN_TIMEOUT: '60' });
    await driver.init();
  });

  afterAll(async () => {
    if (driver === undefined) return;
    const exit = await driver.finalize();
    expect(exit).toEqual({ code: 0, signal: null });
    expectCleanOutput(driver);
  });

  it('DEPLOY: SUCCESS with the UUID of the new domain, and the guest boots', async () => {
    const reply = await send('DEPLOY', deployPayload(tb, h3.address, LIFE_VM));
    expect(reply.ok, reply.line).toBe(true);
    uuid = reply.info;
    expect(uuid).toMatch(UUID);
    expect(reply.line).toBe(`DEPLOY SUCCESS ${LIFE_VM} ${uuid}`);
    const onHost = hostRun(h3, ['virsh', '--connect', 'qemu:///system', 'domuuid', DOM]);
    expect(onHost.stdout.trim()).toBe(uuid);
    // The domain XML was written to REMOTE_DEPLOYMENT_FILE on the host.
    expect(hostRun(h3, ['test', '-s', path.join(vmDir(tb, LIFE_VM), 'deployment.0')]).status).toBe(0);
    await waitForSerialAfter(h3, DOM, 0, /^TB-GUEST-UP/m, BOOT_MS);
    console.log(`DEPLOY ${LIFE_VM}: reply after ${seconds(reply.elapsedMs)}`);
  });

  it('DEPLOY again: SUCCESS with the same UUID; the running guest is left alone', async () => {
    const before = readSerialLog(h3, DOM);
    const reply = await send('DEPLOY', deployPayload(tb, h3.address, LIFE_VM));
    expect(reply.line).toBe(`DEPLOY SUCCESS ${LIFE_VM} ${uuid}`);
    // Wait for one more heartbeat: the guest carries on, it did not boot again.
    const after = await waitForSerialAfter(h3, DOM, before.length, /^TB-HB \d+ /m, BOOT_MS);
    expect(boots(after)).toBe(0);
    expect(hostRun(h3, ['virsh', '--connect', 'qemu:///system', 'list', '--name']).stdout).toContain(DOM);
  });

  it('POLL (by UUID, as oned ≥5.12, and by name): STATE=a and the memory in use', async () => {
    for (const deployId of [uuid, DOM]) {
      const reply = await send('POLL', onH3({ deployId }));
      expect(reply.ok, reply.line).toBe(true);
      const fields = parsePollLine(reply.info);
      expect([...fields.keys()]).toEqual(POLL_KEYS);
      expect(fields.get('STATE')).toBe('a');
      expect(Number(fields.get('MEMORY'))).toBeGreaterThan(0);
      for (const key of POLL_KEYS.slice(1)) expect(fields.get(key), key).toMatch(/^\d+(\.\d+)?$/);
    }
  });

  it('REBOOT: SUCCESS, and the guest boots again', async () => {
    const offset = serialOffset(h3, DOM);
    const reply = await send('REBOOT', onH3({ deployId: uuid }));
    expect(reply.line).toBe(`REBOOT SUCCESS ${LIFE_VM} -`);
    await waitForSerialAfter(h3, DOM, offset, /^TB-GUEST-UP/m, BOOT_MS);
  });

  it('RESET: SUCCESS, and the guest boots again without seeing the power button', async () => {
    // Once the rebooted guest beats.
    await waitForSerialAfter(h3, DOM, readSerialLog(h3, DOM).lastIndexOf('TB-GUEST-UP'), /^TB-HB /m, BOOT_MS);
    const offset = serialOffset(h3, DOM);
    const reply = await send('RESET', onH3());
    expect(reply.line).toBe(`RESET SUCCESS ${LIFE_VM} -`);
    const after = await waitForSerialAfter(h3, DOM, offset, /^TB-GUEST-UP/m, BOOT_MS);
    expect(after).not.toContain('TB-POWEROFF');
  });

  it('SAVE then RESTORE: the guest stops, then carries on where it stopped (heartbeats continue)', async () => {
    await waitForSerialAfter(
      h3,
      DOM,
      readSerialLog(h3, DOM).lastIndexOf('TB-GUEST-UP'),
      /^TB-HB 2 /m,
      BOOT_MS,
    );
    const checkpointFile = path.join(vmDir(tb, LIFE_VM), 'checkpoint');
    const saved = await send('SAVE', onH3({ deployId: uuid, checkpointFile }));
    expect(saved.line).toBe(`SAVE SUCCESS ${LIFE_VM} -`);
    expect(hostRun(h3, ['test', '-s', checkpointFile]).status, 'the checkpoint on the host').toBe(0);
    expect(domainState(h3, DOM), 'a saved domain is gone').toBe('');
    const polled = await send('POLL', onH3());
    expect(polled.line).toBe(`POLL SUCCESS ${LIFE_VM} STATE=d`);

    const before = readSerialLog(h3, DOM);
    const beats = heartbeats(before.slice(before.lastIndexOf('TB-GUEST-UP')));
    const lastBeat = beats[beats.length - 1] ?? 0;
    expect(lastBeat).toBeGreaterThanOrEqual(2);

    const restored = await send('RESTORE', onH3({ checkpointFile }));
    expect(restored.line).toBe(`RESTORE SUCCESS ${LIFE_VM} -`);
    expect(domainState(h3, DOM)).toBe('running');
    const after = await waitForSerialAfter(
      h3,
      DOM,
      before.length,
      new RegExp(`^TB-HB (${lastBeat + 1}|${lastBeat + 2}) `, 'm'),
      BOOT_MS,
    );
    expect(boots(after), 'restored, not rebooted').toBe(0);
    const next = heartbeats(after);
    expect(next.every((n) => n > lastBeat)).toBe(true);
    expect(next[0]).toBeLessThanOrEqual(lastBeat + 2);
  });

  it('SHUTDOWN: the guest sees the power button (TB-POWEROFF), SUCCESS, the domain is gone', async () => {
    const offset = serialOffset(h3, DOM);
    const reply = await send('SHUTDOWN', onH3({ deployId: uuid }));
    expect(reply.line).toBe(`SHUTDOWN SUCCESS ${LIFE_VM} -`);
    expect(readSerialLog(h3, DOM).slice(offset)).toContain('TB-POWEROFF');
    expect(domainState(h3, DOM)).toBe('');
    console.log(`SHUTDOWN ${LIFE_VM}: reply after ${seconds(reply.elapsedMs)}`);
  });

  it('DEPLOY once more, then CANCEL: SUCCESS and the domain is destroyed', async () => {
    const offset = serialOffset(h3, DOM);
    const deployed = await send('DEPLOY', deployPayload(tb, h3.address, LIFE_VM));
    expect(deployed.ok, deployed.line).toBe(true);
    expect(deployed.info).toMatch(UUID);
    await waitForSerialAfter(h3, DOM, offset, /^TB-GUEST-UP/m, BOOT_MS);
    const cancelled = await send('CANCEL', onH3({ deployId: deployed.info }));
    expect(cancelled.line).toBe(`CANCEL SUCCESS ${LIFE_VM} -`);
    expect(domainState(h3, DOM)).toBe('');
    // CANCEL of a domain that is gone succeeds too (OpenNebula expects it to be idempotent).
    const again = await send('CANCEL', onH3());
    expect(again.line).toBe(`CANCEL SUCCESS ${LIFE_VM} -`);
  });
});

describe('DRIVER_CANCEL', () => {
  it('ends a pending SHUTDOWN at once (FAILURE cancelled), drops the VM’s queued action, and the VM keeps running', async () => {
    const DOM = `one-${NOACPI_VM}`;
    const driver = startDriver({ SHUTDOWN_TIMEOUT: '60', SHUTDOWN_RESEND: '10' });
    await driver.init();
    const deployed = await driver.request(
      requestLine('DEPLOY', NOACPI_VM, deployPayload(tb, h4.address, NOACPI_VM, { ignoreAcpi: true })),
    );
    expect(deployed.ok, deployed.line).toBe(true);
    await waitForSerialAfter(h4, DOM, 0, /^TB-GUEST-UP/m, BOOT_MS);

    const payload = domainPayload(h4.address, NOACPI_VM);
    const shutdown = driver.request(requestLine('SHUTDOWN', NOACPI_VM, payload));
    // Queued behind the shutdown: actions of one VM run in arrival order.
    const queued = driver.request(requestLine('POLL', NOACPI_VM, payload));
    // The guest ignores the button: the shutdown waits (up to SHUTDOWN_TIMEOUT=60 s).
    await sleep(3000);
    expect(
      driver.lines.some((line) => /^(SHUTDOWN|POLL) /.test(line.text)),
      'no reply yet',
    ).toBe(false);
    const cancelAt = performance.now();
    driver.send(`DRIVER_CANCEL  ${NOACPI_VM} `);
    const [stopped, dropped] = await Promise.all([shutdown, queued]);
    expect(stopped.line).toBe(`SHUTDOWN FAILURE ${NOACPI_VM} cancelled`);
    expect(dropped.line).toBe(`POLL FAILURE ${NOACPI_VM} cancelled`);
    const latency = Math.max(stopped.at, dropped.at) - cancelAt;
    console.log(`DRIVER_CANCEL of a pending SHUTDOWN: replies ${seconds(latency)} after the cancel`);
    expect(latency).toBeLessThan(10_000);
    expect(domainState(h4, DOM), 'the cancelled shutdown left the VM running').toBe('running');

    // The driver carries on: CANCEL destroys the VM.
    const cancelled = await driver.request(requestLine('CANCEL', NOACPI_VM, payload));
    expect(cancelled.line).toBe(`CANCEL SUCCESS ${NOACPI_VM} -`);
    expect(domainState(h4, DOM)).toBe('');
    expect(await driver.finalize()).toEqual({ code: 0, signal: null });
    expectCleanOutput(driver);
  });
});

describe('an unreachable host', () => {
  const CONNECT_S = 3;
  const COUNT = 40;
  let replies: Reply[];
  let total = 0;

  beforeAll(async () => {
    const driver = startDriver({ SSH_CONNECT_TIMEOUT: String(CONNECT_S) });
    await driver.init();
    const started = performance.now();
    replies = await Promise.all(
      Array.from({ length: COUNT }, (_, i) =>
        driver.request(
          requestLine('CANCEL', UNREACHABLE_VMS + i, domainPayload(NOWHERE, UNREACHABLE_VMS + i)),
        ),
      ),
    );
    total = performance.now() - started;
    console.log(
      `${COUNT} CANCELs to ${NOWHERE} (SSH_CONNECT_TIMEOUT=${CONNECT_S}, ${ARGS}): all replied in ${seconds(total)}; ` +
        `per reply ${seconds(Math.min(...replies.map((r) => r.elapsedMs)))}..${seconds(Math.max(...replies.map((r) => r.elapsedMs)))}`,
    );
    expect(await driver.finalize()).toEqual({ code: 0, signal: null });
    expectCleanOutput(driver);
  });

  it('40 CANCELs each get exactly one FAILURE naming the host', () => {
    expect(replies).toHaveLength(COUNT);
    for (const reply of replies) {
      expect(reply.ok, reply.line).toBe(false);
      expect(reply.info, reply.line).toContain(NOWHERE);
    }
    // What the scheduler guarantees today: ceil(40 / -t) rounds of one connect timeout each.
    expect(total).toBeLessThan(Math.ceil(COUNT / 15) * CONNECT_S * 1000 + 20_000);
  });

  // Known bug (report: "dead host holds the -t slots"): the actions behind the first 15 wait for a slot
  // and then for a connection attempt of their own, so the last replies come after 3 × SSH_CONNECT_TIMEOUT.
  // Remove `.fails` once fixed.
  it('each FAILURE comes within SSH_CONNECT_TIMEOUT + 5 s of its request', () => {
    for (const reply of replies) expect(reply.elapsedMs, reply.line).toBeLessThan(CONNECT_S * 1000 + 5000);
  });
});

// Sends `count` requests of `action` for consecutive VM ids on host.
function burst(
  driver: DriverProcess,
  action: string,
  host: string,
  first: number,
  count: number,
): Promise<Reply>[] {
  return Array.from({ length: count }, (_, i) =>
    driver.request(requestLine(action, first + i, domainPayload(host, first + i))),
  );
}

const slowest = (replies: readonly Reply[]): number => Math.max(...replies.map((r) => r.elapsedMs));
const NO_DOMAIN = /^POLL SUCCESS \d+ STATE=d$/;

describe('isolation: broken hosts do not slow down a healthy one', () => {
  const CONNECT_S = 5;
  const HEALTHY_MS = 5000; // a POLL normally answers in well under a second

  it('tb-h4 cut off and tb-h3 without libvirtd: POLLs on tb-h2 answer at once; the broken hosts FAIL, in bounded time', async () => {
    const driver = startDriver({ SSH_CONNECT_TIMEOUT: String(CONNECT_S) });
    await driver.init();
    const baseline = await Promise.all(burst(driver, 'POLL', h2.address, ISOLATION_VMS + 30, 3));
    for (const reply of baseline) expect(reply.line).toMatch(NO_DOMAIN);

    // Fewer broken-host actions than -t 15 (more: see the hung-host test below).
    const { cutOff, noLibvirt, healthy } = await underFaults(
      [linkDown(h4), libvirtdStopped(h3)],
      async () => {
        const cutOff = [
          ...burst(driver, 'POLL', h4.address, ISOLATION_VMS, 3),
          ...burst(driver, 'CANCEL', h4.address, ISOLATION_VMS + 3, 3),
        ];
        const noLibvirt = [
          ...burst(driver, 'POLL', h3.address, ISOLATION_VMS + 10, 2),
          ...burst(driver, 'CANCEL', h3.address, ISOLATION_VMS + 12, 2),
          ...burst(driver, 'REBOOT', h3.address, ISOLATION_VMS + 14, 2),
        ];
        const healthy = burst(driver, 'POLL', h2.address, ISOLATION_VMS + 20, 5);
        return {
          cutOff: await Promise.all(cutOff),
          noLibvirt: await Promise.all(noLibvirt),
          healthy: await Promise.all(healthy),
        };
      },
    );
    console.log(
      `isolation: healthy POLLs ${seconds(slowest(healthy))} (baseline ${seconds(slowest(baseline))}), ` +
        `link down ${seconds(slowest(cutOff))}, libvirtd stopped ${seconds(slowest(noLibvirt))}`,
    );
    for (const reply of healthy) {
      expect(reply.line).toMatch(NO_DOMAIN);
      expect(reply.elapsedMs, reply.line).toBeLessThan(HEALTHY_MS);
    }
    for (const reply of cutOff) {
      expect(reply.ok, reply.line).toBe(false);
      expect(reply.info, reply.line).toContain(h4.address);
      expect(reply.elapsedMs, reply.line).toBeLessThan(CONNECT_S * 1000 + 10_000);
    }
    for (const reply of noLibvirt) {
      // libvirt's own message; a POLL is a FAILURE, never "STATE=d".
      expect(reply.ok, reply.line).toBe(false);
      expect(reply.info, reply.line).toMatch(/failed to connect (socket|to the hypervisor)/i);
      expect(reply.info, reply.line).toContain(h3.address);
      expect(reply.elapsedMs, reply.line).toBeLessThan(HEALTHY_MS);
    }
    // The repaired hosts work again through the same driver process.
    for (const host of [h3, h4]) {
      const vm = ISOLATION_VMS + 35;
      const again = await driver.request(requestLine('POLL', vm, domainPayload(host.address, vm)));
      expect(again.line).toMatch(NO_DOMAIN);
    }
    expect(await driver.finalize()).toEqual({ code: 0, signal: null });
    expectCleanOutput(driver);
  });

  it('a link cut under an open connection: tb-h4’s actions FAIL once the keepalive gives up; tb-h2 answers meanwhile', async () => {
    const driver = startDriver({ SSH_CONNECT_TIMEOUT: String(CONNECT_S) });
    await driver.init();
    const vm = ISOLATION_VMS + 36;
    const { cutOff, healthy } = await underFaults([linkDown(h4)], async () => {
      // The connection to tb-h4 is open (and idle) when the link goes down: set it up first.
      setLinkUp(h4);
      const opened = await driver.request(requestLine('POLL', vm, domainPayload(h4.address, vm)));
      expect(opened.line).toMatch(NO_DOMAIN);
      setLinkDown(h4);
      const pending = burst(driver, 'POLL', h4.address, vm, 3);
      await sleep(1000);
      const healthy = await Promise.all(burst(driver, 'POLL', h2.address, vm + 10, 3));
      return { cutOff: await Promise.all(pending), healthy };
    });
    console.log(
      `link cut under an open connection: tb-h4 FAILUREs after ${seconds(slowest(cutOff))}, tb-h2 POLLs ${seconds(slowest(healthy))}`,
    );
    for (const reply of healthy) {
      expect(reply.line).toMatch(NO_DOMAIN);
      expect(reply.elapsedMs, reply.line).toBeLessThan(HEALTHY_MS);
    }
    for (const reply of cutOff) {
      expect(reply.ok, reply.line).toBe(false);
      expect(reply.info, reply.line).toContain(h4.address);
      // The ssh2 keepalive (5 s × 3) notices the dead link long before COMMAND_TIMEOUT (60 s).
      expect(reply.elapsedMs, reply.line).toBeLessThan(45_000);
    }
    // Once the link is back the driver opens a new connection.
    const back = await driver.request(requestLine('POLL', vm, domainPayload(h4.address, vm)));
    expect(back.line).toMatch(NO_DOMAIN);
    expect(await driver.finalize()).toEqual({ code: 0, signal: null });
    expectCleanOutput(driver);
  });
});

describe('isolation: more actions on a hung host than -t allows at once', () => {
  // tb-h4's sshd is frozen (SIGSTOP): the kernel still accepts TCP connections, but no SSH banner
  // comes, so every connection attempt lasts SSH_CONNECT_TIMEOUT. `testbed.sh status` sees the port
  // open, so nobody's `up` undoes this fault.
  const CONNECT_S = 10;
  const HUNG = 20; // more than -t 15
  let hung: Reply[];
  let healthy: Reply;

  beforeAll(async () => {
    const driver = startDriver({ SSH_CONNECT_TIMEOUT: String(CONNECT_S) });
    await driver.init();
    const pid = sshdPid(tb, h4);
    await freezeProcess(pid);
    try {
      const pending = burst(driver, 'POLL', h4.address, HUNG_VMS, HUNG);
      await sleep(200);
      const vm = ISOLATION_VMS + 39;
      healthy = await driver.request(requestLine('POLL', vm, domainPayload(h3.address, vm)));
      hung = await Promise.all(pending);
    } finally {
      thawProcess(pid);
    }
    console.log(
      `${HUNG} POLLs to a hung tb-h4 (${ARGS}, SSH_CONNECT_TIMEOUT=${CONNECT_S}): tb-h3 POLL after ${seconds(healthy.elapsedMs)}, ` +
        `tb-h4 FAILUREs after ${seconds(Math.min(...hung.map((r) => r.elapsedMs)))}..${seconds(slowest(hung))}`,
    );
    expect(await driver.finalize()).toEqual({ code: 0, signal: null });
    expectCleanOutput(driver);
  });

  it('every action on the hung host FAILS naming it; the healthy POLL succeeds', () => {
    expect(healthy.line).toMatch(NO_DOMAIN);
    expect(hung).toHaveLength(HUNG);
    for (const reply of hung) {
      expect(reply.ok, reply.line).toBe(false);
      expect(reply.info, reply.line).toContain(h4.address);
    }
  });

  // Known bug (report: "a dead host holds the -t slots"): the hung host's actions take all 15 slots,
  // so the POLL on tb-h3 waits a whole SSH_CONNECT_TIMEOUT (SPEC §2.1: a slow or dead host never
  // delays actions on other hosts). Remove `.fails` once fixed.
  it('the POLL on a healthy host is not delayed by them', () => {
    expect(healthy.elapsedMs).toBeLessThan(5000);
  });
});
