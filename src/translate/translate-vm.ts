// VM → libvirt domain XML, section by section in OpenNebula's order (reference §6.4).
import { element, serializeXml, XmlCharacterError, type XmlChild, type XmlElement } from '../domain/xml.js';
import type { Vm } from '../template/vm.js';
import { TranslateError } from '../util/errors.js';
import { explainXmlCharacterError } from './check-values.js';
import { buildContextDisk } from './context-disk.js';
import {
  checkPath,
  createContext,
  DEFAULT_EMULATOR,
  type TranslateContext,
  type TranslateOptions,
} from './context.js';
import { buildControllersAndDevices } from './devices.js';
import { buildCpu, buildCputune, buildVcpu } from './cpu.js';
import { buildClock, buildFeatures, buildGuestAgent } from './features.js';
import { buildMemory, buildMemoryBacking, buildMemoryEncryption, readMemoryMib } from './memory.js';
import { buildMetadata } from './metadata.js';
import { buildOs } from './os.js';
import { buildRaw } from './raw.js';

export type { TranslateOptions } from './context.js';

export interface TranslateResult {
  readonly xml: string;
  // Things left out on purpose (unsupported graphics, a PCI entry without an address…).
  readonly warnings: readonly string[];
}

// Builds the <domain> element tree for a VM.
export function buildDomain(vm: Vm, options: TranslateOptions, warnings: string[] = []): XmlElement {
  const ctx: TranslateContext = createContext(vm, options);
  const memory = readMemoryMib(ctx);
  const emulator = checkPath('EMULATOR', ctx.look.single('EMULATOR') || DEFAULT_EMULATOR);
  if (/[\n\r]/.test(vm.name)) {
    throw new TranslateError('NAME', "a VM name cannot contain line breaks (libvirt's <title> is one line)");
  }
  const { devices, hasFilesystem } = buildControllersAndDevices(ctx, warnings);
  const agent = buildGuestAgent(ctx);
  const children: XmlChild[] = [element('name', null, [`one-${vm.id}`]), element('title', null, [vm.name])];
  const uuid = ctx.look.vector('OS', 'UUID') || undefined;
  if (uuid !== undefined) children.push(element('uuid', null, [uuid]));
  const domainChildren: (XmlElement | undefined)[] = [
    buildVcpu(ctx),
    buildCputune(ctx),
    ...buildMemory(ctx, memory),
    ...buildOs(ctx, warnings),
    ...buildCpu(ctx, memory),
    ctx.iothreads > 0 ? element('iothreads', null, [String(ctx.iothreads)]) : undefined,
  ];
  const contextDisk = buildContextDisk(ctx, warnings);
  const deviceList: XmlChild[] = [element('emulator', null, [emulator]), ...devices.disks];
  if (contextDisk !== undefined) deviceList.push(contextDisk);
  deviceList.push(...devices.rest);
  if (agent !== undefined) deviceList.push(agent);
  const tail: (XmlElement | undefined)[] = [
    buildMemoryBacking(ctx, hasFilesystem),
    buildFeatures(ctx),
    buildClock(ctx),
    ...buildMemoryEncryption(ctx, memory, warnings),
  ];
  const domain: XmlChild[] = [
    ...children,
    ...domainChildren.filter((node): node is XmlElement => node !== undefined),
    element('devices', null, deviceList),
    ...tail.filter((node): node is XmlElement => node !== undefined),
  ];
  mergeRaw(domain, buildRaw(ctx));
  domain.push(buildMetadata(ctx));
  const type = options.domainType ?? 'kvm';
  return element('domain', { type, 'xmlns:qemu': 'http://libvirt.org/schemas/domain/qemu/1.0' }, domain);
}

// RAW <devices> children join the generated <devices> (libvirt's schema allows one block); any
// other RAW element must not repeat one the template already produced.
function mergeRaw(domain: XmlChild[], raw: readonly XmlElement[]): void {
  const devicesIndex = domain.findIndex((node) => typeof node !== 'string' && node.name === 'devices');
  for (const node of raw) {
    const devices = domain[devicesIndex];
    if (node.name === 'devices' && devices !== undefined && typeof devices !== 'string') {
      domain[devicesIndex] = { ...devices, children: [...devices.children, ...node.children] };
      continue;
    }
    const clash = domain.find((other) => typeof other !== 'string' && other.name === node.name);
    if (clash !== undefined && node.name !== 'qemu:commandline') {
      throw new TranslateError(
        'RAW',
        `<${node.name}> is already generated from the template; set it there or remove it from RAW`,
      );
    }
    domain.push(node);
  }
}

// Translates a VM into libvirt domain XML.
export function translateVm(vm: Vm, options: TranslateOptions): TranslateResult {
  const warnings: string[] = [];
  try {
    const xml = serializeXml(buildDomain(vm, options, warnings));
    return { xml, warnings };
  } catch (error) {
    if (error instanceof XmlCharacterError) throw explainXmlCharacterError(vm, error);
    throw error;
  }
}
