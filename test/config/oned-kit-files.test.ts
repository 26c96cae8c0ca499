// OpenNebula's own configuration files, as the kit (shared/oned) ships them, read by onevmm unchanged.
import { describe, expect, it } from 'vitest';
import { readKvmConfig } from '../../src/config/kvm-config.js';
import { parseKvmrc } from '../../src/config/parse-kvmrc.js';
import { getVectorValue, toReplaceMode } from '../../src/template/model.js';
import { parseTemplate } from '../../src/template/parse-template.js';
import { findOnedKit, readKitFiles } from '../helpers/oned-kit.js';

const DEFAULTS = 'etc/vmm_exec/vmm_exec_kvm.conf';
const KVMRC = 'var/remotes/etc/vmm/kvm/kvmrc';
const kit = findOnedKit();
const files = 'missing' in kit ? undefined : readKitFiles(kit, [DEFAULTS, KVMRC]);
if (files === undefined) console.log(`oned kit files not read: ${'missing' in kit ? kit.missing : ''}`);

describe.skipIf(files === undefined)("the kit's OpenNebula configuration files", () => {
  const defaultsText = files?.[DEFAULTS] ?? '';

  it('parses the stock vmm_exec_kvm.conf with every attribute oned reads from it', () => {
    const defaults = toReplaceMode(parseTemplate(defaultsText, { file: DEFAULTS }));
    expect(getVectorValue(defaults, 'OS', 'MACHINE')).toBe('q35');
    expect(getVectorValue(defaults, 'NIC', 'MODEL')).toBe('virtio');
    const names = defaults.attributes.map((a) => a.name);
    expect(names).toEqual(expect.arrayContaining(['FEATURES', 'DISK', 'HYPERV_OPTIONS', 'OVMF_UEFIS']));
  });

  it('parses it with the NIC queues commented out (a trailing comma before a comment and "]")', () => {
    const edited = defaultsText.replace(/^(\s*)VIRTIO_QUEUES = "auto"$/m, '$1# VIRTIO_QUEUES = "auto"');
    expect(edited).not.toBe(defaultsText);
    const defaults = toReplaceMode(parseTemplate(edited, { file: DEFAULTS }));
    expect(getVectorValue(defaults, 'NIC', 'MODEL')).toBe('virtio');
    expect(getVectorValue(defaults, 'NIC', 'VIRTIO_QUEUES')).toBeUndefined();
    // what follows the NIC vector is read too
    const names = defaults.attributes.map((a) => a.name);
    expect(names).toEqual(expect.arrayContaining(['HYPERV_OPTIONS', 'SPICE_OPTIONS', 'OVMF_UEFIS']));
  });

  it("reads the stock kvmrc with OpenNebula's values", () => {
    const vars = parseKvmrc(files?.[KVMRC] ?? '', { file: KVMRC, env: {} });
    const config = readKvmConfig(vars);
    expect(config).toMatchObject({
      libvirtUri: 'qemu:///system',
      qemuProtocol: 'qemu+ssh',
      shutdownTimeout: 180,
      forceDestroy: true,
      syncTime: true,
      virshRetries: 3,
    });
    expect(vars['DEFAULT_ATTACH_CACHE']).toBe('none');
    expect(vars['OVMF_NVRAM']).toBe('/usr/share/OVMF/OVMF_VARS.fd');
  });
});
