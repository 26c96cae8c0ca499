// The virtio-scsi controller and, on q35/virt/aarch64, the PCIe topology (reference §6.5, §6.9).
import { element, type XmlElement } from '../domain/xml.js';
import { TranslateError } from '../util/errors.js';
import { resolveQueues, type TranslateContext } from './context.js';
import { isYes, parseInteger } from './lookup.js';
import type { NumaNode } from './numa.js';
import { showValue } from '../util/show-value.js';

// <controller type='scsi' model='virtio-scsi'>, always emitted (since OpenNebula 5.4). With
// iothreads it takes `nextIothread`, the round-robin slot after the virtio disks (as oned does).
export function buildScsiController(ctx: TranslateContext, nextIothread = 1): XmlElement {
  const queues = resolveQueues(ctx, ctx.look.vector('FEATURES', 'VIRTIO_SCSI_QUEUES')) ?? 1;
  const iothread = ctx.iothreads > 0 ? nextIothread : undefined;
  return element('controller', { type: 'scsi', index: 0, model: 'virtio-scsi' }, [
    element('driver', { queues, iothread }),
  ]);
}

// A pcie-root-port; `bus` puts it in slot 0 of that expander bus, function `fn` (0 is multifunction).
function rootPort(index: number, bus?: number, fn = 0): XmlElement {
  const address =
    bus === undefined
      ? undefined
      : element('address', {
          type: 'pci',
          bus,
          slot: 0,
          function: fn,
          multifunction: fn === 0 ? 'on' : undefined,
        });
  return element('controller', { type: 'pci', index, model: 'pcie-root-port' }, [address]);
}

// pcie-root, then root ports and a PCIe-to-PCI bridge; with NUMA, one expander bus per node.
export function buildPcieControllers(ctx: TranslateContext, nodes: readonly NumaNode[]): XmlElement[] {
  if (!ctx.isQ35 && ctx.arch !== 'aarch64') return [];
  const hole = ctx.look.vector('FEATURES', 'PCIHOLE64') || undefined;
  if (hole !== undefined && parseInteger(hole) === undefined) {
    throw new TranslateError('FEATURES/PCIHOLE64', `must be an integer (KiB), got ${showValue(hole)}`);
  }
  const controllers = [
    element('controller', { type: 'pci', index: 0, model: 'pcie-root' }, [
      hole !== undefined && element('pcihole64', { unit: 'KiB' }, [hole]),
    ]),
  ];
  const numaPcie = isYes(ctx.look.defaultSingle('Q35_NUMA_PCIE') ?? 'YES');
  if (nodes.length === 0 || !numaPcie) {
    const ports = parseInteger(ctx.look.defaultSingle('Q35_ROOT_PORTS')) ?? 16;
    for (let index = 1; index <= ports; index++) controllers.push(rootPort(index));
    controllers.push(element('controller', { type: 'pci', index: ports + 1, model: 'pcie-to-pci-bridge' }));
    return controllers;
  }
  controllers.push(
    rootPort(1),
    element('controller', { type: 'pci', index: 2, model: 'pcie-to-pci-bridge' }),
  );
  nodes.forEach((node, i) => {
    const bus = 3 + 9 * i;
    controllers.push(
      element('controller', { type: 'pci', index: bus, model: 'pcie-expander-bus' }, [
        element('target', { busNr: 0x20 + 0x10 * i }, [element('node', null, [String(node.index)])]),
      ]),
    );
    for (let port = 0; port < 8; port++) controllers.push(rootPort(bus + 1 + port, bus, port));
  });
  return controllers;
}
