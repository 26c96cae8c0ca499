// attach_nic / detach_nic of a PCI entry (a NIC passed through: PCI[TYPE=NIC], or any PCI device
// oned hot-plugs as PCI[ATTACH=YES]), as OpenNebula's attach_nic and detach_nic scripts do it:
// an SR-IOV virtual function goes in as <interface type='hostdev'> (the network driver sets its
// MAC and VLAN on the VF), an mdev by its UUID, anything else as a managed <hostdev>; the guest
// address oned chose is used only when the domain has the pci.1 bus and the address is free.
// Unlike OpenNebula's scripts, the domain is read first (a device already there is refused, a
// device already gone is a success), the detach sends the element exactly as libvirt describes
// it, and both read the domain back.
import { parseXmlFragment } from '../domain/parse-xml-fragment.js';
import { serializeXml, type XmlElement } from '../domain/xml.js';
import type { Vector } from '../template/model.js';
import {
  pciHotplugDevice,
  pciHotplugGuestAddress,
  pciSource,
  type PciSource,
} from '../translate/hostdevs.js';
import { failAction } from '../util/errors.js';
import { showName } from '../util/show-value.js';
import { DETACH_WAIT_SECONDS } from './hotplug.js';
import { virsh, type ActionContext } from './context.js';

export interface PciInput {
  readonly host: string;
  readonly domain: string;
  // The PCI[ATTACH=YES] entry of the VM template.
  readonly pci: Vector;
}

const DETACH_POLL_MS = 500;

const childrenOf = (node: XmlElement): XmlElement[] =>
  node.children.filter((child): child is XmlElement => typeof child !== 'string');
const attributeOf = (node: XmlElement, name: string): string | undefined =>
  node.attributes.find(([key]) => key === name)?.[1]?.toString();

function* walk(node: XmlElement): Generator<XmlElement> {
  yield node;
  for (const child of childrenOf(node)) yield* walk(child);
}

// "0000:05:02.0", or the mdev UUID: how the device is named in messages.
export function describePci(source: PciSource): string {
  if ('uuid' in source) return `mdev ${source.uuid}`;
  const digits = (value: string, width: number): string =>
    Number.parseInt(value, 16).toString(16).padStart(width, '0');
  return `${digits(source.domain, 4)}:${digits(source.bus, 2)}:${digits(source.slot, 2)}.${digits(source.function, 1)}`;
}

// Whether an <address> element names this PCI address (numbers compared, 0x05 = 0x5) or UUID.
function addressIs(address: XmlElement | undefined, wanted: PciSource): boolean {
  if (address === undefined) return false;
  if ('uuid' in wanted) return attributeOf(address, 'uuid')?.toLowerCase() === wanted.uuid.toLowerCase();
  return (['domain', 'bus', 'slot', 'function'] as const).every((key) => {
    const value = attributeOf(address, key);
    return value !== undefined && Number.parseInt(value, 16) === Number.parseInt(wanted[key], 16);
  });
}

interface DomainDevices {
  // The <hostdev> or <interface type='hostdev'> whose source is the device, if attached.
  readonly device: XmlElement | undefined;
  readonly hasPci1: boolean;
  readonly guestAddressInUse: (address: PciSource) => boolean;
}

async function readDevices(
  ctx: ActionContext,
  host: string,
  domain: string,
  source: PciSource,
): Promise<DomainDevices> {
  const { stdout } = await ctx.runner.run(host, virsh(ctx, 'read domain', ['dumpxml', '--', domain]));
  const parsed = parseXmlFragment(stdout);
  if (!parsed.ok) failAction(`virsh dumpxml of ${showName(domain)} on ${host} is not XML: ${parsed.reason}`);
  const root = parsed.children.find((child): child is XmlElement => typeof child !== 'string');
  const devices = root === undefined ? [] : childrenOf(root).filter((node) => node.name === 'devices');
  const all = devices.flatMap((node) => childrenOf(node));
  const device = all.find((node) => {
    const passthrough =
      node.name === 'hostdev' || (node.name === 'interface' && attributeOf(node, 'type') === 'hostdev');
    const address = childrenOf(node)
      .find((child) => child.name === 'source')
      ?.children.find((child): child is XmlElement => typeof child !== 'string' && child.name === 'address');
    return passthrough && addressIs(address, source);
  });
  const walked = devices.flatMap((node) => [...walk(node)]);
  return {
    device,
    hasPci1: walked.some((node) => node.name === 'alias' && attributeOf(node, 'name') === 'pci.1'),
    // a device's own guest address: an <address type='pci'> directly under a device
    guestAddressInUse: (address) =>
      all.some((node) =>
        childrenOf(node).some(
          (child) =>
            child.name === 'address' && attributeOf(child, 'type') === 'pci' && addressIs(child, address),
        ),
      ),
  };
}

// An SR-IOV virtual function has a physfn link in sysfs (what OpenNebula finds with a scan of
// /sys/devices for virtfn* links).
async function isVirtualFunction(ctx: ActionContext, host: string, source: PciSource): Promise<boolean> {
  if ('uuid' in source) return false;
  const { stdout } = await ctx.runner.run(host, {
    step: 'is it a virtual function',
    argv: [
      'sh',
      '-c',
      'if test -e "$1"; then echo vf; else echo pf; fi',
      'sh',
      `/sys/bus/pci/devices/${describePci(source)}/physfn`,
    ],
    signal: ctx.signal,
  });
  return stdout.trim() === 'vf';
}

export async function attachPci(ctx: ActionContext, input: PciInput): Promise<{ readonly xml: string }> {
  const source = pciSource(input.pci, 'PCI');
  const what = `attach of PCI device ${describePci(source)} to ${showName(input.domain)} on ${input.host}`;
  const before = await readDevices(ctx, input.host, input.domain, source);
  if (before.device !== undefined) failAction(`${what}: the domain already has it; nothing was changed`);
  const wanted = pciHotplugGuestAddress(input.pci, 'PCI');
  const guestAddress =
    wanted !== undefined && before.hasPci1 && !before.guestAddressInUse(wanted) ? wanted : undefined;
  const virtualFunction = await isVirtualFunction(ctx, input.host, source);
  const xml = serializeXml(pciHotplugDevice(source, { virtualFunction, guestAddress }));
  await ctx.runner.run(
    input.host,
    virsh(ctx, 'attach PCI device', ['attach-device', '--live', '--file', '/dev/stdin', '--', input.domain], {
      stdin: xml,
    }),
  );
  if ((await readDevices(ctx, input.host, input.domain, source)).device === undefined)
    failAction(`${what}: virsh attach-device succeeded but the domain does not list it`);
  return { xml };
}

export async function detachPci(
  ctx: ActionContext,
  input: PciInput,
): Promise<{ readonly detached: boolean }> {
  const source = pciSource(input.pci, 'PCI');
  const what = `detach of PCI device ${describePci(source)} from ${showName(input.domain)} on ${input.host}`;
  const { device } = await readDevices(ctx, input.host, input.domain, source);
  if (device === undefined) {
    ctx.log(
      'I',
      `PCI device ${describePci(source)} is not attached to ${showName(input.domain)}: nothing to detach`,
    );
    return { detached: false };
  }
  await ctx.runner.run(
    input.host,
    virsh(ctx, 'detach PCI device', ['detach-device', '--live', '--file', '/dev/stdin', '--', input.domain], {
      stdin: serializeXml(device),
    }),
  );
  const deadline = ctx.now() + DETACH_WAIT_SECONDS * 1000;
  for (;;) {
    if ((await readDevices(ctx, input.host, input.domain, source)).device === undefined)
      return { detached: true };
    if (ctx.now() >= deadline)
      failAction(
        `${what}: the domain still lists it after ${DETACH_WAIT_SECONDS}s (the guest did not release it)`,
      );
    await ctx.sleep(DETACH_POLL_MS, ctx.signal);
  }
}
