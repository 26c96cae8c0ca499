// Hot-plug, snapshots, resize and the context CD-ROM on a real guest (issue 5 §2-6), through the
// action executables with OpenNebula's arguments and action documents. The guest reports what it
// sees on every heartbeat (blk=, net=, cpus=, mem=, sectors=). VM id 820 belongs to this file.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  describeRun,
  failureLine,
  jsonResult,
  runAction,
  serialOffset,
  waitForSerialAfter,
} from './helpers/guest.js';
import { ensureTestbed, hostExec, hostRun, type TestbedHost, type TestbedInfo } from './helpers/testbed.js';
import {
  deployTiny,
  domainState,
  eventually,
  lastHeartbeat,
  lastHeartbeatLine,
  removeEverywhere,
} from './helpers/vm-guest.js';

const VM_ID = 820;
const DOM = `one-${VM_ID}`;
const MAC = '02:00:0a:4d:08:20';

let tb: TestbedInfo;
let h1: TestbedHost;
let work: string;
// The VM directory: <DS_LOCATION>/<DS_ID>/<VM_ID> on tb-h1 (its own per-host local dir).
let dsLocation: string;
let vmDir: string;

const virsh = (...args: string[]): string => hostExec(h1, ['virsh', '--connect', 'qemu:///system', ...args]);

// oned's <VM> document for this VM with extra TEMPLATE elements.
function vmXml(template: string): string {
  return `<VM><ID>${VM_ID}</ID><NAME>devices</NAME><DEPLOY_ID>${DOM}</DEPLOY_ID><TEMPLATE>${template}</TEMPLATE>
<HISTORY_RECORDS><HISTORY><SEQ>0</SEQ><HOSTNAME>${h1.address}</HOSTNAME><DS_ID>0</DS_ID>
<DS_LOCATION>${dsLocation}</DS_LOCATION><VM_MAD>kvm</VM_MAD></HISTORY></HISTORY_RECORDS></VM>`;
}

const base64 = (text: string): string => Buffer.from(text).toString('base64');

// Waits for a heartbeat line (after the current end of the log) that matches.
async function guestShows(pattern: RegExp, what: string): Promise<void> {
  const offset = serialOffset(h1, DOM);
  try {
    await waitForSerialAfter(h1, DOM, offset, new RegExp(`^TB-HB .*${pattern.source}`, 'm'), 30_000);
  } catch {
    throw new Error(`the guest does not show ${what}; last heartbeat: ${lastHeartbeatLine(h1, DOM)}`);
  }
}

describe('hot-plug, snapshots, resize and the context CD-ROM on a real guest', { timeout: 180_000 }, () => {
  beforeAll(async () => {
    tb = await ensureTestbed(2);
    h1 = tb.hosts[0] as TestbedHost;
    work = mkdtempSync(path.join(tmpdir(), 'onevmm-e2e-devices-'));
    dsLocation = `${tb.dir}/local/e2e-ds`;
    vmDir = `${dsLocation}/0/${VM_ID}`;
    removeEverywhere(tb, DOM);
    hostExec(h1, [
      'sh',
      '-c',
      'rm -rf "$1" && mkdir -p "$1" && : > "$1/context.iso" && truncate -s 1M "$1/context.iso"',
      'sh',
      vmDir,
    ]);
    await deployTiny(
      tb,
      h1,
      {
        name: DOM,
        disk: `${vmDir}/disk.0`,
        vmDir,
        tweak: (xml) =>
          xml
            .replace('<vcpu>1</vcpu>', "<vcpu current='1'>2</vcpu>")
            .replace("<memballoon model='none'/>", "<memballoon model='virtio'/>")
            .replace(
              '</devices>',
              `<disk type='file' device='cdrom'><driver name='qemu' type='raw'/><source file='${vmDir}/context.iso'/><target dev='hdc' bus='ide'/><readonly/></disk>\n  </devices>`,
            ),
      },
      work,
    );
    await eventually(`${DOM} boots`, () => lastHeartbeat(h1, DOM) >= 2, 90_000);
  });

  afterAll(() => {
    if (tb === undefined) return;
    removeEverywhere(tb, DOM);
    hostRun(h1, ['rm', '-rf', '--', dsLocation]);
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  describe('snapshots', () => {
    it('snapshot_create prints snap-<id> and keeps its XML in the VM directory', async () => {
      const run = await runAction(tb, 'snapshot_create', [DOM, '0', String(VM_ID), h1.address]);
      expect(run.code, describeRun(run)).toBe(0);
      expect(run.stdout).toBe('snap-0\n');
      expect(virsh('snapshot-list', '--name', DOM).trim()).toBe('snap-0');
      expect(hostExec(h1, ['cat', `${vmDir}/snap-0.xml`])).toMatch(/<name>snap-0<\/name>/);
    });

    it('snapshot_revert takes the running guest back: its heartbeat counter restarts from the snapshot', async () => {
      const atSnapshot = lastHeartbeat(h1, DOM);
      await eventually('the guest beats on', () => lastHeartbeat(h1, DOM) >= atSnapshot + 4, 60_000);
      const offset = serialOffset(h1, DOM);
      const run = await runAction(tb, 'snapshot_revert', [DOM, 'snap-0', String(VM_ID), h1.address]);
      expect(run.code, describeRun(run)).toBe(0);
      const after = await waitForSerialAfter(h1, DOM, offset, /^TB-HB \d+ /m, 30_000);
      const first = Number(/^TB-HB (\d+) /m.exec(after)?.[1]);
      expect(first).toBeLessThanOrEqual(atSnapshot + 2);
      expect(domainState(h1, DOM)).toBe('running');
    });

    it('an unknown snapshot is refused by revert and delete, naming the VM and host', async () => {
      for (const action of ['snapshot_revert', 'snapshot_delete']) {
        const run = await runAction(tb, action, [DOM, 'snap-9', String(VM_ID), h1.address]);
        expect(run.code).toBe(1);
        expect(failureLine(run)).toMatch(
          new RegExp(`${DOM} on ${h1.address.replace(/\./g, '\\.')} has no snapshot 'snap-9'`),
        );
      }
      expect(virsh('snapshot-list', '--name', DOM).trim()).toBe('snap-0');
    });

    it('the kept snapshots come back after save and restore', async () => {
      const checkpoint = `${vmDir}/checkpoint`;
      const saved = await runAction(tb, 'save', [DOM, checkpoint, h1.address, String(VM_ID), h1.address]);
      expect(saved.code, describeRun(saved)).toBe(0);
      expect(domainState(h1, DOM)).toBe('absent');
      const restored = await runAction(tb, 'restore', [
        checkpoint,
        h1.address,
        DOM,
        String(VM_ID),
        h1.address,
      ]);
      expect(restored.code, describeRun(restored)).toBe(0);
      expect(restored.stderr).toMatch(/redefined 1 of 1 kept snapshot/);
      expect(virsh('snapshot-list', '--name', DOM).trim()).toBe('snap-0');
    });

    it('snapshot_delete removes the snapshot and its kept XML', async () => {
      const run = await runAction(tb, 'snapshot_delete', [DOM, 'snap-0', String(VM_ID), h1.address]);
      expect(run.code, describeRun(run)).toBe(0);
      expect(virsh('snapshot-list', '--name', DOM).trim()).toBe('');
      expect(hostRun(h1, ['test', '-e', `${vmDir}/snap-0.xml`]).status).not.toBe(0);
    });
  });

  describe('disk hot-plug', () => {
    const DISK =
      '<DISK><ATTACH>YES</ATTACH><DISK_ID>1</DISK_ID><TARGET>vdb</TARGET><DRIVER>qcow2</DRIVER><TYPE>FILE</TYPE></DISK>';

    it('attach_disk builds the disk from DISK[ATTACH=YES]; the guest sees vdb', async () => {
      hostExec(h1, ['qemu-img', 'create', '-q', '-f', 'qcow2', `${vmDir}/disk.1`, '32M']);
      const doc = base64(vmXml(DISK));
      const run = await runAction(tb, 'attach_disk', [
        DOM,
        `${vmDir}/disk.1`,
        'vdb',
        '1',
        doc,
        String(VM_ID),
        h1.address,
      ]);
      expect(run.code, describeRun(run)).toBe(0);
      expect(virsh('domblklist', DOM)).toContain(`${vmDir}/disk.1`);
      await guestShows(/blk=\S*vdb/, 'vdb');
    });

    it('a target already in use is refused and nothing changes', async () => {
      const run = await runAction(tb, 'attach_disk', [
        DOM,
        `${vmDir}/disk.1`,
        'vdb',
        '1',
        base64(vmXml(DISK)),
        String(VM_ID),
        h1.address,
      ]);
      expect(run.code).toBe(1);
      expect(failureLine(run)).toMatch(/target vdb is already in use/);
      expect(virsh('domblklist', DOM).match(/vdb/g)).toHaveLength(1);
    });

    it('a SATA disk (a CD-ROM on q35) is refused with a clear reason', async () => {
      const cdrom =
        '<DISK><ATTACH>YES</ATTACH><DISK_ID>2</DISK_ID><TARGET>hdb</TARGET><TYPE>CDROM</TYPE></DISK>';
      const run = await runAction(tb, 'attach_disk', [
        DOM,
        '-',
        'hdb',
        '1',
        base64(vmXml(cdrom)),
        String(VM_ID),
        h1.address,
      ]);
      expect(run.code).toBe(1);
      expect(failureLine(run)).toMatch(/sata bus, which cannot be hot-plugged/);
    });

    it('a VM document without DISK[ATTACH=YES] is refused', async () => {
      const run = await runAction(tb, 'attach_disk', [
        DOM,
        '-',
        'vdc',
        '2',
        base64(vmXml('')),
        String(VM_ID),
        h1.address,
      ]);
      expect(run.code).toBe(1);
      expect(failureLine(run)).toMatch(/attach_disk of VM 820: .*no DISK with ATTACH=YES/);
    });

    it('detach_disk: gone from the domain and from the guest', async () => {
      const run = await runAction(tb, 'detach_disk', [
        DOM,
        `${vmDir}/disk.1`,
        'vdb',
        '1',
        String(VM_ID),
        h1.address,
      ]);
      expect(run.code, describeRun(run)).toBe(0);
      expect(virsh('dumpxml', DOM)).not.toMatch(/dev='vdb'/);
      await guestShows(/blk=(?!\S*vdb)\S*/, 'no vdb');
    });
  });

  describe('NIC hot-plug', () => {
    const NIC = `<NIC><ATTACH>YES</ATTACH><NIC_ID>0</NIC_ID><MAC>${MAC}</MAC><BRIDGE>br0</BRIDGE><MODEL>virtio</MODEL></NIC>`;

    it('attach_nic builds the interface from NIC[ATTACH=YES]; the guest sees eth0', async () => {
      const run = await runAction(
        tb,
        'attach_nic',
        [DOM, MAC, 'br0', 'virtio', 'bridge', '-', String(VM_ID), h1.address],
        {
          stdin: vmXml(NIC),
        },
      );
      expect(run.code, describeRun(run)).toBe(0);
      expect(virsh('domiflist', DOM)).toContain(MAC);
      await guestShows(/net=\S*eth0/, 'eth0');
    });

    it('detach_nic: gone from domiflist and from the guest', async () => {
      const run = await runAction(tb, 'detach_nic', [DOM, MAC, String(VM_ID), h1.address], {
        stdin: vmXml(NIC),
      });
      expect(run.code, describeRun(run)).toBe(0);
      expect(virsh('domiflist', DOM)).not.toContain(MAC);
      await guestShows(/net=(?!\S*eth0)\S*/, 'no eth0');
    });
  });

  // No PCI hardware here: a NIC passed through from a device the host does not have. The real
  // domain XML (q35: root ports pci.1…) is read, libvirt refuses, nothing changes.
  describe('PCI NIC hot-plug (no such device on the host)', () => {
    const PCI = `<PCI><ATTACH>YES</ATTACH><TYPE>NIC</TYPE><MAC>02:00:0a:4d:08:21</MAC><DOMAIN>0000</DOMAIN><BUS>7f</BUS><SLOT>1f</SLOT><FUNCTION>7</FUNCTION><SHORT_ADDRESS>7f:1f.7</SHORT_ADDRESS><VM_DOMAIN>0x0000</VM_DOMAIN><VM_BUS>0x01</VM_BUS><VM_SLOT>0x00</VM_SLOT><VM_FUNCTION>0</VM_FUNCTION></PCI>`;

    it("attach_nic: FAILURE naming the step, the host and libvirt's message; the domain has no new device", async () => {
      const before = virsh('dumpxml', DOM).match(/<hostdev|<interface/g)?.length ?? 0;
      const run = await runAction(
        tb,
        'attach_nic',
        [DOM, '02:00:0a:4d:08:21', '-', '-', '802.1Q', '-', String(VM_ID), h1.address],
        { stdin: vmXml(PCI) },
      );
      expect(run.code, describeRun(run)).toBe(1);
      expect(failureLine(run)).toMatch(
        new RegExp(`attach PCI device.* on ${h1.address.replace(/\./g, '\\.')}.*error:`),
      );
      expect(virsh('dumpxml', DOM).match(/<hostdev|<interface/g)?.length ?? 0).toBe(before);
    });

    it('detach_nic of it: nothing to detach, a success', async () => {
      const run = await runAction(tb, 'detach_nic', [DOM, '02:00:0a:4d:08:21', String(VM_ID), h1.address], {
        stdin: vmXml(PCI),
      });
      expect(run.code, describeRun(run)).toBe(0);
      expect(run.stderr).toContain('PCI device 0000:7f:1f.7 is not attached to one-820: nothing to detach');
    });
  });

  describe('resize', () => {
    it('resize adds a vCPU (hotpluggable) and shrinks the balloon; the guest sees both', async () => {
      const doc = vmXml(
        '<VCPU>2</VCPU><MEMORY>96</MEMORY><RESIZE><VCPU>1</VCPU><MEMORY>128</MEMORY></RESIZE>',
      );
      const run = await runAction(tb, 'resize', [DOM, String(VM_ID), h1.address, '--json'], { stdin: doc });
      expect(run.code, describeRun(run)).toBe(0);
      expect(jsonResult(run)).toMatchObject({ ok: true, changed: ['memory 128 → 96 MiB', 'vcpu 1 → 2'] });
      await guestShows(/cpus=0-1/, 'two CPUs');
      expect(virsh('dommemstat', DOM)).toMatch(/actual 98304/);
    });

    it('resize_disk grows vda (the guest sees 128 MiB) and refuses to shrink it', async () => {
      const doc = base64(vmXml('<DISK><DISK_ID>0</DISK_ID><TARGET>vda</TARGET></DISK>'));
      const run = await runAction(tb, 'resize_disk', [DOM, '0', '128', doc, String(VM_ID), h1.address]);
      expect(run.code, describeRun(run)).toBe(0);
      await guestShows(/sectors=\S*vda:262144/, 'vda with 262144 sectors');
      const shrink = await runAction(tb, 'resize_disk', [DOM, '0', '32', doc, String(VM_ID), h1.address]);
      expect(shrink.code).toBe(1);
      expect(failureLine(shrink)).toMatch(/32 MiB is smaller than its 128 MiB; disks only grow/);
    });
  });

  describe('context CD-ROM', () => {
    it('prereconfigure ejects it (twice is fine), reconfigure inserts the new image', async () => {
      await guestShows(/sectors=\S*sr0:[1-9]/, 'media in sr0');
      for (let i = 0; i < 2; i++) {
        const run = await runAction(tb, 'prereconfigure', [DOM, 'hdc', String(VM_ID), h1.address]);
        expect(run.code, describeRun(run)).toBe(0);
      }
      expect(virsh('domblklist', DOM)).toMatch(/hdc\s+-/);
      await guestShows(/sectors=\S*sr0:0\b/, 'an empty sr0');
      hostExec(h1, ['truncate', '-s', '2M', `${vmDir}/context-new.iso`]);
      const run = await runAction(tb, 'reconfigure', [
        DOM,
        'hdc',
        `${vmDir}/context-new.iso`,
        String(VM_ID),
        h1.address,
      ]);
      expect(run.code, describeRun(run)).toBe(0);
      expect(virsh('domblklist', DOM)).toContain(`${vmDir}/context-new.iso`);
      await guestShows(/sectors=\S*sr0:4096/, 'the 2 MiB image in sr0');
    });
  });
});
