// PCI passthrough hot-plug (a NIC passed through, PCI[TYPE=NIC]): the exact host commands and the
// device XML. No PCI hardware on the testbed, so the domain XML here is written in libvirt's live
// format by hand (q35: the root ports are pci.1…; a hot-plugged <hostdev> gets hostdev0).
import { describe, expect, it } from 'vitest';
import { attachPci, describePci, detachPci } from '../../src/actions/pci-hotplug.js';
import type { Vector } from '../../src/template/model.js';
import { createTestContext, failure, VIRSH } from './helpers.js';

const input = { host: 'node1', domain: 'one-5' };
const DUMPXML = `${VIRSH} dumpxml -- one-5`;
const ATTACH = `${VIRSH} attach-device --live --file /dev/stdin -- one-5`;
const DETACH = `${VIRSH} detach-device --live --file /dev/stdin -- one-5`;
const VF_CHECK =
  'LC_ALL=C timeout --kill-after=5s 60s sh -c \'if test -e "$1"; then echo vf; else echo pf; fi\' sh /sys/bus/pci/devices/0000:05:02.0/physfn';

// What oned puts in the VM template for a NIC on an SR-IOV network (the fields the driver reads).
const PCI_NIC: Vector = {
  ATTACH: 'YES',
  TYPE: 'NIC',
  MAC: '02:00:c0:a8:4f:70',
  NETWORK_ID: '3',
  VN_MAD: '802.1Q',
  DOMAIN: '0000',
  BUS: '05',
  SLOT: '02',
  FUNCTION: '0',
  SHORT_ADDRESS: '05:02.0',
  ADDRESS: '0000:05:02.0',
  VM_DOMAIN: '0x0000',
  VM_BUS: '0x01',
  VM_SLOT: '0x01',
  VM_FUNCTION: '0',
};

const ROOT_PORTS = `    <controller type='pci' index='0' model='pcie-root'>
      <alias name='pcie.0'/>
    </controller>
    <controller type='pci' index='1' model='pcie-root-port'>
      <model name='pcie-root-port'/>
      <target chassis='1' port='0x10'/>
      <alias name='pci.1'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x02' function='0x0' multifunction='on'/>
    </controller>`;
const VIRTIO_NIC = `    <interface type='bridge'>
      <mac address='02:00:c0:a8:4f:65'/>
      <source bridge='br0'/>
      <target dev='one-5-0'/>
      <model type='virtio'/>
      <alias name='net0'/>
      <address type='pci' domain='0x0000' bus='0x02' slot='0x00' function='0x0'/>
    </interface>`;
const HOSTDEV = `    <hostdev mode='subsystem' type='pci' managed='yes'>
      <driver name='vfio'/>
      <source>
        <address domain='0x0000' bus='0x05' slot='0x02' function='0x0'/>
      </source>
      <alias name='hostdev0'/>
      <address type='pci' domain='0x0000' bus='0x01' slot='0x01' function='0x0'/>
    </hostdev>`;

const domainXml = (...devices: string[]): { stdout: string } => ({
  stdout: `<domain type='kvm' id='7'>\n  <name>one-5</name>\n  <devices>\n${devices.join('\n')}\n  </devices>\n</domain>\n`,
});

describe('attachPci', () => {
  it('plugs a managed <hostdev> at the guest address oned chose when pci.1 is there and the address free', async () => {
    const { ctx, runner } = createTestContext();
    runner
      .reply('dumpxml', domainXml(ROOT_PORTS, VIRTIO_NIC), domainXml(ROOT_PORTS, VIRTIO_NIC, HOSTDEV))
      .reply('physfn', { stdout: 'pf\n' })
      .reply('attach-device', { stdout: 'Device attached successfully\n\n' });

    const { xml } = await attachPci(ctx, { ...input, pci: PCI_NIC });

    expect(runner.commands()).toEqual([DUMPXML, VF_CHECK, ATTACH, DUMPXML]);
    expect(xml).toBe(
      [
        "<hostdev mode='subsystem' type='pci' managed='yes'>",
        '\t<source>',
        "\t\t<address domain='0x0000' bus='0x05' slot='0x02' function='0x0'/>",
        '\t</source>',
        "\t<address type='pci' domain='0x0000' bus='0x01' slot='0x01' function='0x0'/>",
        '</hostdev>',
        '',
      ].join('\n'),
    );
    expect(runner.calls[2]?.step.stdin).toBe(xml);
  });

  it('plugs an SR-IOV virtual function as <interface type=hostdev>, without a guest address when there is no pci.1', async () => {
    const { ctx, runner } = createTestContext();
    const vf = HOSTDEV.replace(
      "<hostdev mode='subsystem' type='pci' managed='yes'>",
      "<interface type='hostdev' managed='yes'>",
    )
      .replace('</hostdev>', '</interface>')
      .replace("<address domain='0x0000' bus='0x05'", "<address type='pci' domain='0x0000' bus='0x05'");
    runner
      .reply('dumpxml', domainXml(VIRTIO_NIC), domainXml(VIRTIO_NIC, vf))
      .reply('physfn', { stdout: 'vf\n' })
      .reply('attach-device', { stdout: 'Device attached successfully\n\n' });

    const { xml } = await attachPci(ctx, { ...input, pci: PCI_NIC });

    expect(xml).toBe(
      [
        "<interface type='hostdev' managed='yes'>",
        '\t<source>',
        "\t\t<address type='pci' domain='0x0000' bus='0x05' slot='0x02' function='0x0'/>",
        '\t</source>',
        '</interface>',
        '',
      ].join('\n'),
    );
  });

  it('leaves the guest address to libvirt when another device has it', async () => {
    const { ctx, runner } = createTestContext();
    const taken = VIRTIO_NIC.replace("bus='0x02' slot='0x00'", "bus='0x01' slot='0x01'");
    runner
      .reply('dumpxml', domainXml(ROOT_PORTS, taken), domainXml(ROOT_PORTS, taken, HOSTDEV))
      .reply('physfn', { stdout: 'pf\n' })
      .reply('attach-device', { stdout: '' });

    const { xml } = await attachPci(ctx, { ...input, pci: PCI_NIC });

    expect(xml).not.toContain("type='pci' domain='0x0000' bus='0x01'");
  });

  it('refuses a device the domain already has (0x5 = 0x05), running nothing else', async () => {
    const { ctx, runner } = createTestContext();
    runner.reply('dumpxml', domainXml(ROOT_PORTS, HOSTDEV.replace("bus='0x05'", "bus='0x5'")));

    const error = await failure(attachPci(ctx, { ...input, pci: PCI_NIC }));

    expect(error.message).toBe(
      'attach of PCI device 0000:05:02.0 to one-5 on node1: the domain already has it; nothing was changed',
    );
    expect(runner.commands()).toEqual([DUMPXML]);
  });

  it('fails when libvirt said yes but the domain does not list the device', async () => {
    const { ctx, runner } = createTestContext();
    runner
      .reply('dumpxml', domainXml(VIRTIO_NIC))
      .reply('physfn', { stdout: 'pf\n' })
      .reply('attach-device', { stdout: '' });

    const error = await failure(attachPci(ctx, { ...input, pci: PCI_NIC }));

    expect(error.message).toBe(
      'attach of PCI device 0000:05:02.0 to one-5 on node1: virsh attach-device succeeded but the domain does not list it',
    );
  });

  it('plugs a mediated device by its UUID (no virtual-function check)', async () => {
    const { ctx, runner } = createTestContext();
    const uuid = 'b1ae8bf6-38b0-4c81-9d44-78ce3f520496';
    const mdev = `    <hostdev mode='subsystem' type='mdev' managed='no' model='vfio-pci'>\n      <source>\n        <address uuid='${uuid}'/>\n      </source>\n    </hostdev>`;
    runner
      .reply('dumpxml', domainXml(VIRTIO_NIC), domainXml(VIRTIO_NIC, mdev))
      .reply('attach-device', { stdout: '' });

    const { xml } = await attachPci(ctx, { ...input, pci: { ...PCI_NIC, UUID: uuid } });

    expect(runner.commands()).toEqual([DUMPXML, ATTACH, DUMPXML]);
    expect(xml).toContain(`<address uuid='${uuid}'/>`);
  });

  it('refuses a PCI entry without its host address, naming the attribute', async () => {
    const { ctx, runner } = createTestContext();
    const noBus = Object.fromEntries(Object.entries(PCI_NIC).filter(([key]) => key !== 'BUS'));

    const error = await failure(attachPci(ctx, { ...input, pci: noBus }));

    expect(error.message).toContain('PCI/BUS');
    expect(runner.commands()).toEqual([]);
  });
});

describe('detachPci', () => {
  it('sends the device as libvirt describes it and waits until the domain no longer lists it', async () => {
    const { ctx, runner, clock } = createTestContext();
    runner
      .reply('dumpxml', domainXml(ROOT_PORTS, HOSTDEV), domainXml(ROOT_PORTS, HOSTDEV), domainXml(ROOT_PORTS))
      .reply('detach-device', { stdout: 'Device detached successfully\n\n' });

    expect(await detachPci(ctx, { ...input, pci: PCI_NIC })).toEqual({ detached: true });

    expect(runner.commands()).toEqual([DUMPXML, DETACH, DUMPXML, DUMPXML]);
    expect(runner.calls[1]?.step.stdin).toBe(
      [
        "<hostdev mode='subsystem' type='pci' managed='yes'>",
        "\t<driver name='vfio'/>",
        '\t<source>',
        "\t\t<address domain='0x0000' bus='0x05' slot='0x02' function='0x0'/>",
        '\t</source>',
        "\t<alias name='hostdev0'/>",
        "\t<address type='pci' domain='0x0000' bus='0x01' slot='0x01' function='0x0'/>",
        '</hostdev>',
        '',
      ].join('\n'),
    );
    expect(clock.sleeps).toEqual([500]);
  });

  it('a device that is not there is a success, with an INFO line', async () => {
    const { ctx, runner, logs } = createTestContext();
    runner.reply('dumpxml', domainXml(ROOT_PORTS, VIRTIO_NIC));

    expect(await detachPci(ctx, { ...input, pci: PCI_NIC })).toEqual({ detached: false });

    expect(runner.commands()).toEqual([DUMPXML]);
    expect(logs).toContainEqual(['I', 'PCI device 0000:05:02.0 is not attached to one-5: nothing to detach']);
  });
});

it('names a device as lspci does', () => {
  expect(describePci({ domain: '0x0', bus: '0x5', slot: '0x1f', function: '0x7' })).toBe('0000:05:1f.7');
});
