// <disk> elements and the SATA controllers they need (reference §6.5).
import type { Vector } from '../template/model.js';
import { element, textElement, type XmlElement } from '../domain/xml.js';
import { TranslateError } from '../util/errors.js';
import { checkPath, resolveQueues, type TranslateContext } from './context.js';
import { buildDiskSource, isCdrom, readDiskType } from './disk-source.js';
import { buildFilesystem } from './filesystem.js';
import { buildIotune, readDiskIotune } from './iotune.js';
import { isYes } from './lookup.js';
import { showValue } from '../util/show-value.js';

// Counters shared by the disks of one domain: SATA controller indices and iothread round-robin.
export interface DiskState {
  nextSataController: number;
  nextIothread: number;
  readonly sataControllers: XmlElement[];
  readonly warnings: string[];
}

export function createDiskState(ctx: TranslateContext): DiskState {
  return { nextSataController: ctx.isQ35 ? 1 : 0, nextIothread: 1, sataControllers: [], warnings: [] };
}

// The bus for a target: CD-ROMs and hd* use sata on q35/virt (else ide), vd* virtio, sd* OS/SD_DISK_BUS.
export function selectDiskBus(ctx: TranslateContext, target: string, cdrom: boolean): string | undefined {
  if (cdrom || target.startsWith('hd')) return ctx.isQ35 ? 'sata' : 'ide';
  if (target.startsWith('vd')) return 'virtio';
  if (target.startsWith('sd')) return ctx.look.vector('OS', 'SD_DISK_BUS') || undefined;
  return undefined;
}

// Index of a target's letters: a=0 … z=25, aa=26 (bijective, so sda and sdaa never share a unit).
export function targetIndex(letters: string): number {
  let value = 0;
  for (const char of letters) value = value * 26 + (char.charCodeAt(0) - 96);
  return value - 1;
}

function buildDriver(
  ctx: TranslateContext,
  disk: Vector,
  bus: string | undefined,
  cdrom: boolean,
  state: DiskState,
): XmlElement {
  const fromDefaults = (key: string): string | undefined =>
    disk[key] || ctx.look.defaultVector('DISK', key) || undefined;
  let iothread: number | undefined;
  if (ctx.iothreads > 0 && bus === 'virtio') {
    const own = Number(disk['IOTHREAD']);
    if (Number.isInteger(own) && own >= 1 && own <= ctx.iothreads) {
      iothread = own;
    } else {
      iothread = state.nextIothread;
      state.nextIothread = (state.nextIothread % ctx.iothreads) + 1;
    }
  }
  const queues =
    bus === 'virtio'
      ? resolveQueues(ctx, disk['VIRTIO_BLK_QUEUES'] || ctx.look.vector('FEATURES', 'VIRTIO_BLK_QUEUES'))
      : undefined;
  return element('driver', {
    name: 'qemu',
    type: cdrom ? 'raw' : (fromDefaults('DRIVER') ?? 'raw'),
    cache: fromDefaults('CACHE') ?? 'default',
    io: fromDefaults('IO'),
    discard: fromDefaults('DISCARD'),
    iothread,
    queues,
  });
}

function buildAddress(target: string, bus: string | undefined, state: DiskState): XmlElement | undefined {
  if (!target.startsWith('sd')) return undefined;
  if (bus === 'sata') {
    const controller = state.nextSataController++;
    state.sataControllers.push(element('controller', { type: 'sata', index: controller }));
    return element('address', { type: 'drive', controller, bus: 0, target: 0, unit: 0 });
  }
  const index = targetIndex(target.slice(2));
  if (index < 0 || index > 255) return undefined;
  return element('address', { type: 'drive', controller: 0, bus: 0, target: index, unit: 0 });
}

// Builds one <disk> (or <filesystem>) for DISK number `index` of the VM template.
// `path` is where the disk's file is on the host (DISK_TARGET_PATH of a hot-plug); by default
// <system dir>/disk.<DISK_ID>.
export function buildDisk(
  ctx: TranslateContext,
  disk: Vector,
  index: number,
  state: DiskState,
  path?: string,
): XmlElement {
  const where = `DISK[${index}]`;
  if (readDiskType(disk) === 'FILESYSTEM') return buildFilesystem(ctx, disk, where);
  const target = disk['TARGET'] ?? '';
  if (!/^[a-z]{3,}$/.test(target)) {
    throw new TranslateError(`${where}/TARGET`, `Wrong target value in DISK: ${showValue(target)}`);
  }
  const diskId = disk['DISK_ID'] ?? '';
  if (!/^\d+$/.test(diskId))
    throw new TranslateError(`${where}/DISK_ID`, `must be a non-negative integer, got ${showValue(diskId)}`);
  const cdrom = isCdrom(disk);
  const bus = selectDiskBus(ctx, target, cdrom);
  const { type, device, source, auth, warning } = buildDiskSource(
    ctx,
    disk,
    where,
    path === undefined ? `${ctx.systemDir}/disk.${diskId}` : checkPath(`${where}/SOURCE`, path),
  );
  if (warning !== undefined) state.warnings.push(warning);
  const fullSource = auth === undefined ? source : { ...source, children: [...source.children, auth] };
  const luks = disk['LUKS_SECRET'] || undefined;
  let serial = disk['SERIAL'] || undefined;
  if (serial !== undefined && type === 'block' && bus === 'scsi') {
    state.warnings.push(`${where}/SERIAL: ignored, a block device on the scsi bus cannot carry a serial`);
    serial = undefined;
  }
  const order = disk['ORDER'] || undefined;
  if (order !== undefined && !/^[1-9]\d*$/.test(order)) {
    throw new TranslateError(`${where}/ORDER`, `must be a positive integer, got ${showValue(order)}`);
  }
  return element('disk', { type, device }, [
    fullSource,
    element('target', { dev: target, bus }),
    luks !== undefined &&
      element('encryption', { format: 'luks' }, [element('secret', { type: 'passphrase', uuid: luks })]),
    order !== undefined && element('boot', { order }),
    isYes(disk['READONLY']) && element('readonly'),
    isYes(disk['SHAREABLE']) && element('shareable'),
    textElement('serial', serial),
    buildDriver(ctx, disk, bus, cdrom, state),
    buildIotune(readDiskIotune(ctx, disk), where),
    buildAddress(target, bus, state),
  ]);
}

// Builds every DISK of the VM in template order; SATA controllers come from `state`.
export function buildDisks(ctx: TranslateContext, state: DiskState): XmlElement[] {
  return ctx.look.vmVectors('DISK').map((disk, index) => buildDisk(ctx, disk, index, state));
}

// True when the VM has a virtiofs FILESYSTEM disk (it needs shared memory).
export function hasFilesystemDisk(ctx: TranslateContext): boolean {
  return ctx.look.vmVectors('DISK').some((disk) => readDiskType(disk) === 'FILESYSTEM');
}
