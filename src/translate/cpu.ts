// <vcpu>, <cputune>, <cpu> and <numatune> (reference §6.4 items 5, 6, 10).
import { element, textElement, type XmlElement } from '../domain/xml.js';
import { TranslateError } from '../util/errors.js';
import type { TranslateContext } from './context.js';
import { parseDecimal } from './lookup.js';
import { isMemoryHotplug } from './memory.js';
import { parseDistances, readNumaNodes, type NumaNode } from './numa.js';
import { showValue } from '../util/show-value.js';

// <vcpu>: with VCPU_MAX, current=VCPU; else VCPU when set; else nothing.
export function buildVcpu(ctx: TranslateContext): XmlElement | undefined {
  const max = ctx.look.int('VCPU_MAX');
  if (max !== undefined) return textElement('vcpu', max, { current: ctx.vcpu });
  if (ctx.look.int('VCPU') !== undefined) return textElement('vcpu', ctx.vcpu);
  return undefined;
}

// CPU shares from CPU (default 1): cgroup v1 base 1024 in [2, 262144], v2 base 100 in [2, 10000].
// oned's v2 floor is 1 (cpu.weight's), but libvirt 9.0 refuses shares below 2 whatever the
// cgroup version, so 2 is the closest value it accepts.
export function computeShares(cpu: number, cgroupsVersion: number | undefined): number {
  const [base, low, high] = cgroupsVersion === 2 ? [100, 2, 10_000] : [1024, 2, 262_144];
  return Math.min(high, Math.max(low, Math.ceil(base * cpu)));
}

function pinPolicy(ctx: TranslateContext): string {
  return (ctx.look.vmVector('TOPOLOGY')?.['PIN_POLICY'] ?? 'NONE').toUpperCase();
}

function isPinned(ctx: TranslateContext): boolean {
  const topology = ctx.look.vmVector('TOPOLOGY');
  return (
    pinPolicy(ctx) !== 'NONE' ||
    (topology?.['NODE_AFFINITY'] ?? '') !== '' ||
    (topology?.['HUGEPAGE_SIZE'] ?? '') !== ''
  );
}

// <cputune>: shares always; vcpupin per vCPU and emulatorpin when the VM is pinned.
export function buildCputune(ctx: TranslateContext): XmlElement {
  const cpuText = ctx.look.vmSingle('CPU');
  const cpu = parseDecimal(cpuText);
  if (cpuText !== undefined && cpuText !== '' && cpu === undefined) {
    throw new TranslateError('CPU', `must be a number, got ${showValue(cpuText)}`);
  }
  const shares = computeShares(cpu ?? 1, ctx.look.defaultSingle('CGROUPS_VERSION') === '2' ? 2 : 1);
  const children: XmlElement[] = [element('shares', null, [String(shares)])];
  const pinned = new Set<string>();
  if (isPinned(ctx)) {
    const policy = pinPolicy(ctx);
    for (const node of readNumaNodes(ctx)) {
      if (node.hostCpus.length === 0) continue;
      for (let vcpu = node.firstVcpu; vcpu <= node.lastVcpu; vcpu++) {
        const one = node.hostCpus[(vcpu - node.firstVcpu) % node.hostCpus.length] ?? '';
        const cpuset = policy === 'CORE' || policy === 'THREAD' ? one : node.hostCpus.join(',');
        children.push(element('vcpupin', { vcpu, cpuset }));
      }
      node.hostCpus.forEach((hostCpu) => pinned.add(hostCpu));
    }
  }
  const emulatorCpus = ctx.look.defaultSingle('EMULATOR_CPUS') || undefined;
  const emulatorSet = emulatorCpus ?? (pinned.size > 0 ? [...pinned].join(',') : undefined);
  if (emulatorSet !== undefined) children.push(element('emulatorpin', { cpuset: emulatorSet }));
  return element('cputune', null, children);
}

function buildNumaCells(
  ctx: TranslateContext,
  nodes: readonly NumaNode[],
  memoryMib: number,
): XmlElement | undefined {
  if (nodes.length === 0) {
    if (!isMemoryHotplug(ctx)) return undefined;
    const cell = { id: 0, cpus: `0-${ctx.vcpuMax - 1}`, memory: memoryMib * 1024, unit: 'KiB' };
    return element('numa', null, [element('cell', cell)]);
  }
  const access = (ctx.look.vmVector('TOPOLOGY')?.['MEMORY_ACCESS'] ?? '').toLowerCase();
  if (access !== '' && access !== 'private' && access !== 'shared') {
    throw new TranslateError('TOPOLOGY/MEMORY_ACCESS', `must be private or shared, got ${showValue(access)}`);
  }
  const withDistances = nodes.some((node) => node.distance !== undefined);
  const cells = nodes.map((node) => {
    const attributes = {
      id: node.index,
      cpus: node.firstVcpu === node.lastVcpu ? `${node.firstVcpu}` : `${node.firstVcpu}-${node.lastVcpu}`,
      memory: node.memoryKib,
      unit: 'KiB',
      memAccess: access || undefined,
    };
    const siblings = withDistances
      ? parseDistances(node, nodes.length).map((value, id) => element('sibling', { id, value }))
      : [];
    return element('cell', attributes, siblings.length > 0 ? [element('distances', null, siblings)] : []);
  });
  return element('numa', null, cells);
}

// <cpu> when CPU_MODEL/MODEL is set, TOPOLOGY exists or memory hotplug is on; then <numatune>.
export function buildCpu(ctx: TranslateContext, memoryMib: number): XmlElement[] {
  // EVC_MODE is a single cluster attribute (EVC_MODE = "Skylake"), beyond the VM's reach.
  const model = ctx.look.defaultSingle('EVC_MODE') || ctx.look.vector('CPU_MODEL', 'MODEL') || undefined;
  const topology = ctx.look.vmVector('TOPOLOGY');
  if (model === undefined && topology === undefined && !isMemoryHotplug(ctx)) return [];
  const nodes = readNumaNodes(ctx);
  const children: (XmlElement | undefined)[] = [];
  let mode: string | undefined;
  if (model === 'host-passthrough' || model === 'host-model') {
    mode = model;
  } else if (model !== undefined) {
    mode = 'custom';
    children.push(element('model', { fallback: 'forbid' }, [model]));
  }
  // Extra CPU flags only refine a named model (oned ignores them without one).
  const features = model === undefined ? '' : (ctx.look.vector('CPU_MODEL', 'FEATURES') ?? '');
  for (const feature of features.split(',')) {
    if (feature.trim() !== '') children.push(element('feature', { policy: 'require', name: feature.trim() }));
  }
  if (topology !== undefined) children.push(buildTopology(ctx, topology));
  children.push(buildNumaCells(ctx, nodes, memoryMib));
  const cpu = element('cpu', { mode }, children);
  const memnodes = nodes.filter((node) => node.memoryNodeId !== undefined);
  if (memnodes.length === 0) return [cpu];
  const nodeset = [...new Set(memnodes.map((node) => node.memoryNodeId))].join(',');
  const numatune = element('numatune', null, [
    element('memory', { mode: 'strict', nodeset }),
    ...memnodes.map((node) =>
      element('memnode', { cellid: node.index, mode: 'strict', nodeset: node.memoryNodeId }),
    ),
  ]);
  return [cpu, numatune];
}

function buildTopology(ctx: TranslateContext, topology: Readonly<Record<string, string>>): XmlElement {
  const read = (key: string): number => {
    const value = topology[key];
    if (value === undefined || value === '') return 1;
    const parsed = Number(value);
    if (!Number.isInteger(parsed) || parsed < 1) {
      throw new TranslateError(`TOPOLOGY/${key}`, `must be a positive integer, got ${showValue(value)}`);
    }
    return parsed;
  };
  const [sockets, cores, threads] = [read('SOCKETS'), read('CORES'), read('THREADS')];
  if (sockets * cores * threads !== ctx.vcpuMax) {
    throw new TranslateError(
      'TOPOLOGY',
      `SOCKETS×CORES×THREADS (${sockets}×${cores}×${threads}) must equal the number of vCPUs (${ctx.vcpuMax})`,
    );
  }
  return element('topology', { sockets, cores, threads });
}
