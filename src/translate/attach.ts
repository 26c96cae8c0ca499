// The device XML of a hot-plug (attach_disk, attach_nic): the VM's DISK or NIC with ATTACH=YES,
// built by the deployment code, with kvmrc's DEFAULT_ATTACH_* values in place of the defaults
// file's DISK/NIC (as OpenNebula's attach scripts do). Virtio-only values (queues, iothread)
// reach only virtio disks; SATA and IDE disks cannot be hot-plugged and are refused.
import { serializeXml } from '../domain/xml.js';
import { createTemplate, createVector, isVector, type Template, type Vector } from '../template/model.js';
import type { Vm } from '../template/vm.js';
import { TranslateError } from '../util/errors.js';
import { createContext, type TranslateOptions } from './context.js';
import { buildDisk, createDiskState, selectDiskBus } from './disks.js';
import { isCdrom } from './disk-source.js';
import { IOTUNE_KEYS } from './iotune.js';
import { isYes } from './lookup.js';
import { buildNic } from './nics.js';

export interface AttachedDevice {
  readonly xml: string;
  // The DISK's TARGET, or the NIC's MAC.
  readonly key: string;
  readonly index: number;
  readonly vector: Vector;
  readonly warnings: readonly string[];
}

function findAttached(vm: Vm, name: 'DISK' | 'NIC'): { vector: Vector; index: number } {
  const vectors = vm.template.attributes
    .filter((a) => a.name === name && isVector(a))
    .map((a) => a.value as Vector);
  const index = vectors.findIndex((vector) => isYes(vector['ATTACH']));
  const vector = vectors[index];
  if (vector === undefined)
    throw new TranslateError(`${name}[ATTACH=YES]`, `VM ${vm.id} has no ${name} with ATTACH=YES`);
  return { vector, index };
}

// The defaults file with its DISK and NIC replaced by the kvmrc attach defaults.
function attachDefaults(defaults: Template, disk: Vector, nic: Vector): Template {
  const kept = defaults.attributes.filter((a) => a.name !== 'DISK' && a.name !== 'NIC');
  return createTemplate([...kept, { name: 'DISK', value: disk }, { name: 'NIC', value: nic }]);
}

const pick = (vars: Readonly<Record<string, string>>, name: string): string | undefined => {
  const value = vars[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
};

// <disk> for DISK[ATTACH=YES]; `path` is the disk's file on the host (oned's DISK_TARGET_PATH),
// by default <system dir>/disk.<DISK_ID>.
export function buildAttachDisk(
  vm: Vm,
  options: TranslateOptions,
  vars: Readonly<Record<string, string>>,
  path?: string,
): AttachedDevice {
  const { vector, index } = findAttached(vm, 'DISK');
  const diskDefaults = createVector([['CACHE', pick(vars, 'DEFAULT_ATTACH_CACHE') ?? 'default']]);
  const discard = pick(vars, 'DEFAULT_ATTACH_DISCARD');
  if (discard !== undefined) diskDefaults['DISCARD'] = discard;
  const io = pick(vars, 'DEFAULT_ATTACH_IO');
  if (io !== undefined) diskDefaults['IO'] = io;
  for (const key of IOTUNE_KEYS) {
    // 6.10 spells the last one DEFAULT_SIZE_IOPS_SEC.
    const value =
      pick(vars, `DEFAULT_ATTACH_${key}`) ??
      (key === 'SIZE_IOPS_SEC' ? pick(vars, 'DEFAULT_SIZE_IOPS_SEC') : undefined);
    if (value !== undefined) diskDefaults[key] = value;
  }
  const nicDefaults = createVector();
  const ctx = createContext(vm, {
    ...options,
    defaults: attachDefaults(options.defaults, diskDefaults, nicDefaults),
  });
  const target = vector['TARGET'] ?? '';
  const bus = selectDiskBus(ctx, target, isCdrom(vector));
  if (bus === 'sata' || bus === 'ide') {
    throw new TranslateError(
      `DISK[${index}]/TARGET`,
      `${target} would be on the ${bus} bus, which cannot be hot-plugged; attach it as a vd* (virtio) or sd* (scsi) disk, or power the VM off`,
    );
  }
  const disk = createVector(Object.entries(vector));
  if (bus === 'virtio') {
    const queues = pick(vars, 'DEFAULT_ATTACH_VIRTIO_BLK_QUEUES');
    if (
      !disk['VIRTIO_BLK_QUEUES'] &&
      !ctx.look.vector('FEATURES', 'VIRTIO_BLK_QUEUES') &&
      queues !== undefined
    )
      disk['VIRTIO_BLK_QUEUES'] = queues;
    const iothread = pick(vars, 'DEFAULT_ATTACH_VIRTIO_BLK_IOTHREAD');
    if (!disk['IOTHREAD'] && iothread !== undefined) disk['IOTHREAD'] = iothread;
  }
  const state = createDiskState(ctx);
  // Round-robin as at deployment: DISK_ID % iothreads + 1.
  if (ctx.iothreads > 0) state.nextIothread = (Number(disk['DISK_ID'] ?? 0) % ctx.iothreads) + 1;
  const element = buildDisk(ctx, disk, index, state, path);
  return { xml: serializeXml(element), key: target, index, vector, warnings: state.warnings };
}

// <interface> for NIC[ATTACH=YES].
export function buildAttachNic(
  vm: Vm,
  options: TranslateOptions,
  vars: Readonly<Record<string, string>>,
): AttachedDevice {
  const { vector, index } = findAttached(vm, 'NIC');
  const nicDefaults = createVector();
  const model = pick(vars, 'DEFAULT_ATTACH_NIC_MODEL');
  if (model !== undefined) nicDefaults['MODEL'] = model;
  const filter = pick(vars, 'DEFAULT_ATTACH_NIC_FILTER');
  if (filter !== undefined) nicDefaults['FILTER'] = filter;
  const ctx = createContext(vm, {
    ...options,
    defaults: attachDefaults(options.defaults, createVector(), nicDefaults),
  });
  const mac = vector['MAC'] ?? '';
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(mac))
    throw new TranslateError(`NIC[${index}]/MAC`, `a hot-plugged NIC needs a MAC address, got '${mac}'`);
  const element = buildNic(ctx, vector, index);
  return { xml: serializeXml(element), key: mac.toLowerCase(), index, vector, warnings: [] };
}
