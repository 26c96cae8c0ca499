// The device XML of attach_disk / attach_nic: DISK or NIC with ATTACH=YES, built like at
// deployment, with kvmrc's DEFAULT_ATTACH_* values in place of the defaults file's DISK/NIC.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { XMLValidator } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { toReplaceMode } from '../../src/template/model.js';
import { parseTemplate } from '../../src/template/parse-template.js';
import { createVmFromTemplate } from '../../src/template/vm-from-template.js';
import type { Vm } from '../../src/template/vm.js';
import { buildAttachDisk, buildAttachNic } from '../../src/translate/attach.js';
import type { TranslateOptions } from '../../src/translate/context.js';
import { TranslateError } from '../../src/util/errors.js';

const DEFAULTS_FILE = path.join(import.meta.dirname, '../../etc/vmm_exec/vmm_exec_kvm.conf');
const OPTIONS: TranslateOptions = {
  defaults: toReplaceMode(parseTemplate(readFileSync(DEFAULTS_FILE, 'utf8'), { file: DEFAULTS_FILE })),
};

// A VM (id 5) made from template text the way oned instantiates it (DISK_IDs, NIC targets).
function vmOf(...lines: string[]): Vm {
  const text = ['NAME = "attach"', 'MEMORY = 512', 'CPU = 1', ...lines].join('\n');
  return createVmFromTemplate(parseTemplate(text, { file: 'attach.tmpl' }), { vmId: 5 });
}

const BOOT_DISK = 'DISK = [ IMAGE_ID = 1, SOURCE = "/var/lib/one/datastores/1/boot", TARGET = "vda" ]';
const attachedDisk = (extra: string): string =>
  `DISK = [ IMAGE_ID = 2, SOURCE = "/var/lib/one/datastores/1/data", ATTACH = "YES"${extra} ]`;

function expectWellFormed(xml: string): void {
  expect(XMLValidator.validate(xml)).toBe(true);
}

describe('buildAttachDisk', () => {
  it('gives a virtio vd* disk the DEFAULT_ATTACH_CACHE/DISCARD/IO and iotune defaults of kvmrc', () => {
    const vm = vmOf(BOOT_DISK, attachedDisk(', TARGET = "vdb"'));

    const built = buildAttachDisk(vm, OPTIONS, {
      DEFAULT_ATTACH_CACHE: 'writeback',
      DEFAULT_ATTACH_DISCARD: 'ignore',
      DEFAULT_ATTACH_IO: 'native',
      DEFAULT_ATTACH_READ_IOPS_SEC: '100',
      DEFAULT_ATTACH_TOTAL_BYTES_SEC: '9000',
    });

    expectWellFormed(built.xml);
    expect(built.key).toBe('vdb');
    expect(built.index).toBe(1);
    expect(built.xml).toBe(
      [
        "<disk type='file' device='disk'>",
        "\t<source file='/var/lib/one//datastores/0/5/disk.1'/>",
        "\t<target dev='vdb' bus='virtio'/>",
        "\t<driver name='qemu' type='raw' cache='writeback' io='native' discard='ignore'/>",
        '\t<iotune>',
        '\t\t<total_bytes_sec>9000</total_bytes_sec>',
        '\t\t<read_iops_sec>100</read_iops_sec>',
        '\t</iotune>',
        '</disk>',
        '',
      ].join('\n'),
    );
  });

  it("lets the DISK's own CACHE, DISCARD, IO and iotune values win over kvmrc", () => {
    const vm = vmOf(
      BOOT_DISK,
      attachedDisk(
        ', TARGET = "vdb", CACHE = "none", DISCARD = "unmap", IO = "threads", TOTAL_BYTES_SEC = "500"',
      ),
    );

    const { xml } = buildAttachDisk(vm, OPTIONS, {
      DEFAULT_ATTACH_CACHE: 'writeback',
      DEFAULT_ATTACH_DISCARD: 'ignore',
      DEFAULT_ATTACH_IO: 'native',
      DEFAULT_ATTACH_TOTAL_BYTES_SEC: '9000',
    });

    expect(xml).toContain("cache='none' io='threads' discard='unmap'");
    expect(xml).toContain('<total_bytes_sec>500</total_bytes_sec>');
    expect(xml).not.toContain('9000');
  });

  it('uses cache=default (not the defaults file DISK CACHE=none) when kvmrc sets no DEFAULT_ATTACH_CACHE', () => {
    const { xml } = buildAttachDisk(vmOf(BOOT_DISK, attachedDisk(', TARGET = "vdb"')), OPTIONS, {});

    expect(xml).toContain("cache='default'");
    expect(xml).not.toContain('discard=');
  });

  it("takes the disk's file from the path oned passes (DISK_TARGET_PATH), else the VM directory", () => {
    const vm = vmOf(BOOT_DISK, attachedDisk(', TARGET = "vdb"'));

    const given = buildAttachDisk(vm, OPTIONS, {}, '/srv/one/datastores/100/5/disk.1');
    const fromDir = buildAttachDisk(vm, { ...OPTIONS, systemDir: '/srv/one/datastores/100/5' }, {});

    expect(given.xml).toContain("<source file='/srv/one/datastores/100/5/disk.1'/>");
    expect(fromDir.xml).toContain("<source file='/srv/one/datastores/100/5/disk.1'/>");
    expect(() => buildAttachDisk(vm, OPTIONS, {}, '/a\nb')).toThrow(TranslateError);
  });

  it('applies DEFAULT_ATTACH_VIRTIO_BLK_QUEUES to a vd* disk', () => {
    const { xml } = buildAttachDisk(vmOf(BOOT_DISK, attachedDisk(', TARGET = "vdb"')), OPTIONS, {
      DEFAULT_ATTACH_VIRTIO_BLK_QUEUES: '4',
    });

    expect(xml).toContain("queues='4'");
  });

  it('never applies DEFAULT_ATTACH_VIRTIO_BLK_QUEUES to an sd* (scsi) disk', () => {
    const vm = vmOf(BOOT_DISK, attachedDisk(', TARGET = "sdb"'), 'OS = [ SD_DISK_BUS = "scsi" ]');

    const built = buildAttachDisk(vm, OPTIONS, { DEFAULT_ATTACH_VIRTIO_BLK_QUEUES: '4' });

    expectWellFormed(built.xml);
    expect(built.xml).toContain("<target dev='sdb' bus='scsi'/>");
    expect(built.xml).not.toContain('queues=');
  });

  it('refuses an sd* disk on the sata bus (SD_DISK_BUS=sata): it cannot be hot-plugged', () => {
    const vm = vmOf(BOOT_DISK, attachedDisk(', TARGET = "sdb"'), 'OS = [ SD_DISK_BUS = "sata" ]');

    expect(() => buildAttachDisk(vm, OPTIONS, {})).toThrow(TranslateError);
    expect(() => buildAttachDisk(vm, OPTIONS, {})).toThrow(
      /DISK\[1\]\/TARGET.*sdb would be on the sata bus, which cannot be hot-plugged/,
    );
  });

  it('refuses an hd* disk on a q35 machine (sata) and on a pc machine (ide)', () => {
    const q35 = vmOf(BOOT_DISK, attachedDisk(', TARGET = "hdb"'), 'OS = [ MACHINE = "q35" ]');
    const pc = vmOf(BOOT_DISK, attachedDisk(', TARGET = "hdb"'), 'OS = [ MACHINE = "pc-i440fx-8.2" ]');

    expect(() => buildAttachDisk(q35, OPTIONS, {})).toThrow(/hdb would be on the sata bus/);
    expect(() => buildAttachDisk(pc, OPTIONS, {})).toThrow(/hdb would be on the ide bus/);
  });

  it('refuses a CD-ROM even with a vd* target: CD-ROMs sit on sata/ide', () => {
    const vm = vmOf(
      BOOT_DISK,
      'DISK = [ IMAGE_ID = 3, SOURCE = "/var/lib/one/datastores/1/iso", TYPE = "CDROM", TARGET = "vdc", ATTACH = "YES" ]',
    );

    expect(() => buildAttachDisk(vm, OPTIONS, {})).toThrow(/cannot be hot-plugged/);
  });

  it('fails with a TranslateError when no DISK has ATTACH=YES', () => {
    const vm = vmOf(BOOT_DISK);

    expect(() => buildAttachDisk(vm, OPTIONS, {})).toThrow(TranslateError);
    expect(() => buildAttachDisk(vm, OPTIONS, {})).toThrow(/VM 5 has no DISK with ATTACH=YES/);
  });
});

describe('buildAttachNic', () => {
  const nic = (extra: string): string =>
    `NIC = [ MAC = "02:00:C0:A8:00:05", BRIDGE = "br0", ATTACH = "YES"${extra} ]`;

  it('uses DEFAULT_ATTACH_NIC_MODEL and DEFAULT_ATTACH_NIC_FILTER (with the NIC IP)', () => {
    const built = buildAttachNic(vmOf(BOOT_DISK, nic(', IP = "10.0.0.5"')), OPTIONS, {
      DEFAULT_ATTACH_NIC_MODEL: 'e1000',
      DEFAULT_ATTACH_NIC_FILTER: 'clean-traffic',
    });

    expectWellFormed(built.xml);
    expect(built.key).toBe('02:00:c0:a8:00:05');
    expect(built.xml).toBe(
      [
        "<interface type='bridge'>",
        "\t<source bridge='br0'/>",
        "\t<mac address='02:00:C0:A8:00:05'/>",
        "\t<target dev='one-5-0'/>",
        "\t<model type='e1000'/>",
        "\t<filterref filter='clean-traffic'>",
        "\t\t<parameter name='IP' value='10.0.0.5'/>",
        '\t</filterref>',
        '</interface>',
        '',
      ].join('\n'),
    );
  });

  it('adds no filter to a NIC without an IP', () => {
    const { xml } = buildAttachNic(vmOf(BOOT_DISK, nic('')), OPTIONS, {
      DEFAULT_ATTACH_NIC_MODEL: 'e1000',
      DEFAULT_ATTACH_NIC_FILTER: 'clean-traffic',
    });

    expectWellFormed(xml);
    expect(xml).toContain("<model type='e1000'/>");
    expect(xml).not.toContain('filterref');
  });

  it("lets the NIC's own MODEL win over DEFAULT_ATTACH_NIC_MODEL", () => {
    const { xml } = buildAttachNic(vmOf(BOOT_DISK, nic(', MODEL = "rtl8139"')), OPTIONS, {
      DEFAULT_ATTACH_NIC_MODEL: 'e1000',
    });

    expect(xml).toContain("<model type='rtl8139'/>");
  });

  it('refuses a NIC without a MAC address', () => {
    const vm = vmOf(BOOT_DISK, 'NIC = [ BRIDGE = "br0", ATTACH = "YES" ]');

    expect(() => buildAttachNic(vm, OPTIONS, {})).toThrow(TranslateError);
    expect(() => buildAttachNic(vm, OPTIONS, {})).toThrow(/NIC\[0\]\/MAC.*needs a MAC address/);
  });

  it('fails with a TranslateError when no NIC has ATTACH=YES', () => {
    expect(() => buildAttachNic(vmOf(BOOT_DISK, 'NIC = [ MAC = "02:00:00:00:00:01" ]'), OPTIONS, {})).toThrow(
      /VM 5 has no NIC with ATTACH=YES/,
    );
  });
});
