// PCI passthrough (<hostdev>), vTPM and vIOMMU (reference §6.8, §6.9).
import type { Vector } from '../template/model.js';
import { element, type XmlElement } from '../domain/xml.js';
import { TranslateError } from '../util/errors.js';
import type { TranslateContext } from './context.js';
import { showValue } from '../util/show-value.js';

const PCI_FIELDS = ['DOMAIN', 'BUS', 'SLOT', 'FUNCTION'] as const;

function hex(value: string, where: string): string {
  const digits = value.replace(/^0x/i, '');
  if (!/^[0-9a-fA-F]{1,8}$/.test(digits))
    throw new TranslateError(where, `must be a hexadecimal number, got ${showValue(value)}`);
  return `0x${digits.toLowerCase()}`;
}

// The guest address: VM_BUS_INDEX (a root port's controller index, NUMA layouts), else
// VM_DOMAIN/VM_BUS/VM_SLOT/VM_FUNCTION (flat layouts), as oned assigns them.
function guestAddress(pci: Vector, where: string): XmlElement | undefined {
  const busIndex = pci['VM_BUS_INDEX'] || undefined;
  if (busIndex !== undefined) {
    if (!/^\d+$/.test(busIndex))
      throw new TranslateError(
        `${where}/VM_BUS_INDEX`,
        `must be a controller index, got ${showValue(busIndex)}`,
      );
    return element('address', {
      type: 'pci',
      domain: '0x0000',
      bus: busIndex,
      slot: '0x00',
      function: '0x0',
    });
  }
  const keys = ['VM_DOMAIN', 'VM_BUS', 'VM_SLOT', 'VM_FUNCTION'] as const;
  if (keys.some((key) => (pci[key] ?? '') === '')) return undefined;
  const [domain, bus, slot, fn] = keys.map((key) => hex(pci[key] ?? '', `${where}/${key}`));
  return element('address', { type: 'pci', domain, bus, slot, function: fn });
}

// One <hostdev> per PCI entry; an entry without DOMAIN/BUS/SLOT/FUNCTION is skipped with a warning.
export function buildHostdevs(ctx: TranslateContext, warnings: string[]): XmlElement[] {
  const hostdevs: XmlElement[] = [];
  ctx.look.vmVectors('PCI').forEach((pci, index) => {
    const where = `PCI[${index}]`;
    if (PCI_FIELDS.some((key) => (pci[key] ?? '') === '')) {
      warnings.push(`${where}: DOMAIN, BUS, SLOT and FUNCTION are all needed, device left out`);
      return;
    }
    const mode = (pci['MDEV_MODE'] ?? '').toLowerCase();
    const uuid = pci['UUID'] || undefined;
    const address = guestAddress(pci, where);
    if (uuid !== undefined && (mode === '' || mode === 'legacy')) {
      hostdevs.push(
        element('hostdev', { mode: 'subsystem', type: 'mdev', model: 'vfio-pci' }, [
          element('source', null, [element('address', { uuid })]),
          address,
        ]),
      );
      return;
    }
    const [domain, bus, slot, fn] = PCI_FIELDS.map((key) => hex(pci[key] ?? '', `${where}/${key}`));
    hostdevs.push(
      element('hostdev', { mode: 'subsystem', type: 'pci', managed: mode === 'nvidia' ? 'no' : 'yes' }, [
        element('source', null, [element('address', { domain, bus, slot, function: fn })]),
        address,
      ]),
    );
  });
  return hostdevs;
}

// The host address of a PCI entry (DOMAIN/BUS/SLOT/FUNCTION as 0x… values), or its mdev UUID.
export type PciSource =
  | { readonly uuid: string }
  | { readonly domain: string; readonly bus: string; readonly slot: string; readonly function: string };

export function pciSource(pci: Vector, where: string): PciSource {
  const uuid = pci['UUID'] || undefined;
  if (uuid !== undefined) return { uuid };
  const missing = PCI_FIELDS.filter((key) => (pci[key] ?? '') === '');
  if (missing.length > 0)
    throw new TranslateError(`${where}/${missing[0] ?? ''}`, 'is needed for a PCI device');
  const [domain = '', bus = '', slot = '', fn = ''] = PCI_FIELDS.map((key) =>
    hex(pci[key] ?? '', `${where}/${key}`),
  );
  return { domain, bus, slot, function: fn };
}

// The guest address of a hot-plugged PCI entry (VM_DOMAIN, VM_BUS, VM_SLOT, VM_FUNCTION), if oned
// gave one; OpenNebula's attach uses it only when the domain has the pci.1 bus and the address
// is free.
export function pciHotplugGuestAddress(pci: Vector, where: string): PciSource | undefined {
  const keys = ['VM_DOMAIN', 'VM_BUS', 'VM_SLOT', 'VM_FUNCTION'] as const;
  if (keys.some((key) => (pci[key] ?? '') === '')) return undefined;
  const [domain = '', bus = '', slot = '', fn = ''] = keys.map((key) =>
    hex(pci[key] ?? '', `${where}/${key}`),
  );
  return { domain, bus, slot, function: fn };
}

// The device a PCI entry is hot-plugged as (OpenNebula's attach_nic): an SR-IOV virtual function
// as <interface type='hostdev'> (its MAC and VLAN are the network driver's, set on the VF), an
// mdev by its UUID, any other device as a managed <hostdev>; with the guest address when given.
export function pciHotplugDevice(
  source: PciSource,
  options: { readonly virtualFunction: boolean; readonly guestAddress?: PciSource | undefined },
): XmlElement {
  const guest =
    options.guestAddress === undefined || 'uuid' in options.guestAddress
      ? undefined
      : element('address', { type: 'pci', ...options.guestAddress });
  if ('uuid' in source)
    return element('hostdev', { mode: 'subsystem', type: 'mdev', model: 'vfio-pci' }, [
      element('source', null, [element('address', { uuid: source.uuid })]),
      guest,
    ]);
  if (options.virtualFunction)
    return element('interface', { type: 'hostdev', managed: 'yes' }, [
      element('source', null, [element('address', { type: 'pci', ...source })]),
      guest,
    ]);
  return element('hostdev', { mode: 'subsystem', type: 'pci', managed: 'yes' }, [
    element('source', null, [element('address', { ...source })]),
    guest,
  ]);
}

// TPM=[MODEL=…]: an emulated TPM 2.0.
export function buildTpm(ctx: TranslateContext): XmlElement | undefined {
  const tpm = ctx.look.vmVector('TPM');
  if (tpm === undefined) return undefined;
  const model = tpm['MODEL'] || 'tpm-crb';
  return element('tpm', { model }, [element('backend', { type: 'emulator', version: '2.0' })]);
}

// IOMMU=[MODE=single, MODEL=…, OPTIONS="k=v k=v"]: one vIOMMU for the domain. oned separates
// OPTIONS with blanks; commas are accepted too. MODE=device (an IOMMU per dedicated PCIe bus)
// is not supported and only warned about.
export function buildIommu(ctx: TranslateContext, warnings: string[]): XmlElement | undefined {
  const iommu = ctx.look.vmVector('IOMMU');
  if (iommu === undefined) return undefined;
  const mode = (iommu['MODE'] ?? '').toLowerCase();
  if (mode !== '' && mode !== 'single') {
    warnings.push(`IOMMU/MODE: ${showValue(mode)} is not supported (single), IOMMU left out`);
    return undefined;
  }
  const driver: Record<string, string> = {};
  for (const item of (iommu['OPTIONS'] ?? '').split(/[\s,]+/)) {
    if (item === '') continue;
    const match = /^([A-Za-z_][\w-]*)=([^\s<>&'"]+)$/.exec(item);
    if (match?.[1] === undefined || match[2] === undefined) {
      throw new TranslateError('IOMMU/OPTIONS', `expected 'name=value' items, got ${showValue(item)}`);
    }
    driver[match[1]] = match[2];
  }
  const model = (iommu['MODEL'] || 'intel').toLowerCase();
  return element('iommu', { model }, [Object.keys(driver).length > 0 && element('driver', driver)]);
}
