// The issue-5 actions through bin/one_vmm_exec as oned sends them (issue 5): MIGRATE run on the
// source and, with `-l migrate=migrate_local`, from this machine; ATTACHNIC/DETACHNIC from the
// NIC with ATTACH=YES; a MIGRATE to the host the VM is on. VM 602 on tb-h3/tb-h4 (the driver
// tests' hosts and ids).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DriverProcess, type Reply } from './helpers/driver-process.js';
import {
  actionDataXml,
  deployPayload,
  requestLine,
  tinyGuestTemplate,
  type TemplateVector,
} from './helpers/driver-payload.js';
import { destroyOnHost, domainState, ensureDriverTestbed, hostNamed } from './helpers/driver-testbed.js';
import { removeSerialLog } from './helpers/guest.js';
import { hostRun, type TestbedHost, type TestbedInfo } from './helpers/testbed.js';
import { eventually, lastHeartbeat, lastHeartbeatLine } from './helpers/vm-guest.js';

const VM = 602;
const DOM = `one-${VM}`;
const MAC = '02:00:0a:4d:06:02';

let tb: TestbedInfo;
let h3: TestbedHost;
let h4: TestbedHost;
const drivers: DriverProcess[] = [];

// The payload of an action on VM 602 on `host`, with extra template attributes.
function payload(host: TestbedHost, extra: TemplateVector = {}, migrHost?: TestbedHost): string {
  return actionDataXml({
    host: host.address,
    deployId: DOM,
    ...(migrHost === undefined ? {} : { migrHost: migrHost.address }),
    vm: {
      id: VM,
      name: `vm-${VM}`,
      deployId: DOM,
      template: { ...tinyGuestTemplate(tb, VM), ...extra },
      history: { hostname: host.address },
    },
  });
}

function onlyOn(host: TestbedHost): void {
  for (const other of [h3, h4])
    expect(domainState(other, DOM), other.name).toBe(other === host ? 'running' : '');
}

describe('the issue-5 actions through one_vmm_exec', { timeout: 240_000 }, () => {
  let driver: DriverProcess;
  const send = (action: string, xml: string): Promise<Reply> => driver.request(requestLine(action, VM, xml));

  beforeAll(async () => {
    tb = await ensureDriverTestbed(4, ['tb-h3', 'tb-h4']);
    [h3, h4] = ['tb-h3', 'tb-h4'].map((name) => hostNamed(tb, name)) as [TestbedHost, TestbedHost];
    for (const host of [h3, h4]) {
      destroyOnHost(host, DOM);
      removeSerialLog(host, DOM);
    }
    // PATH: migrate_local runs virsh here, which reaches the hosts through the testbed's ssh.
    driver = DriverProcess.start(tb, {
      args: '-t 15 -r 0 kvm -p',
      env: { PATH: `${tb.dir}/bin:${process.env['PATH'] ?? ''}` },
    });
    drivers.push(driver);
    await driver.init();
    const reply = await send('DEPLOY', deployPayload(tb, h3.address, VM));
    expect(reply.ok, reply.line).toBe(true);
    await eventually(`${DOM} boots`, () => lastHeartbeat(h3, DOM) >= 1, 90_000);
  });

  afterAll(async () => {
    for (const d of drivers) await d.kill();
    if (tb === undefined) return;
    for (const host of [h3, h4]) destroyOnHost(host, DOM);
  });

  it('MIGRATE h3 → h4: SUCCESS, the guest runs on h4 only and goes on beating', async () => {
    const before = lastHeartbeat(h3, DOM);
    const reply = await send('MIGRATE', payload(h3, {}, h4));
    expect(reply.line).toBe(`MIGRATE SUCCESS ${VM} -`);
    onlyOn(h4);
    await eventually('heartbeats on h4', () => lastHeartbeat(h4, DOM) > before + 1, 60_000);
  });

  it('MIGRATE to the host the VM is on: FAILURE saying so, nothing changes', async () => {
    const reply = await send('MIGRATE', payload(h4, {}, h4));
    expect(reply.ok).toBe(false);
    expect(reply.info).toMatch(/the destination is the source host; nothing was changed/);
    onlyOn(h4);
  });

  it('ATTACHNIC then DETACHNIC: the guest sees eth0 come and go', async () => {
    const nic = { NIC: { ATTACH: 'YES', NIC_ID: 0, MAC, BRIDGE: 'br0', MODEL: 'virtio' } };
    const attached = await send('ATTACHNIC', payload(h4, nic));
    expect(attached.line).toBe(`ATTACHNIC SUCCESS ${VM} -`);
    await eventually('eth0 in the guest', () => /net=\S*eth0/.test(lastHeartbeatLine(h4, DOM)), 30_000);
    const detached = await send('DETACHNIC', payload(h4, nic));
    expect(detached.line).toBe(`DETACHNIC SUCCESS ${VM} -`);
    expect(hostRun(h4, ['virsh', '-c', 'qemu:///system', 'domiflist', DOM]).stdout).not.toContain(MAC);
    await eventually('no eth0 in the guest', () => !/net=\S*eth0/.test(lastHeartbeatLine(h4, DOM)), 30_000);
  });

  it('with -l migrate=migrate_local, MIGRATE h4 → h3 is driven from this machine', async () => {
    const local = DriverProcess.start(tb, {
      args: '-t 15 -r 0 -l migrate=migrate_local kvm -p',
      env: { PATH: `${tb.dir}/bin:${process.env['PATH'] ?? ''}` },
    });
    drivers.push(local);
    await local.init();
    const before = lastHeartbeat(h4, DOM);
    const reply = await local.request(requestLine('MIGRATE', VM, payload(h4, {}, h3)));
    expect(reply.line).toBe(`MIGRATE SUCCESS ${VM} -`);
    onlyOn(h3);
    await eventually('heartbeats on h3', () => lastHeartbeat(h3, DOM) > before + 1, 60_000);
    expect(await local.finalize()).toEqual({ code: 0, signal: null });
  });
});
