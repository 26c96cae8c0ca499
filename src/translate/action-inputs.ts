// What the actions after deployment read from the VM oned sends: the new and old sizes of a
// resize, a disk's target by DISK_ID, and the per-VM migration flags.
import { getSingle, getVector, getVectors, type Template } from '../template/model.js';
import type { Vm } from '../template/vm.js';
import { TranslateError } from '../util/errors.js';
import { isYes, parseInteger } from './lookup.js';

export interface ResizeValues {
  readonly vcpu?: number;
  readonly oldVcpu?: number;
  readonly memory?: number;
  readonly oldMemory?: number;
  readonly memoryMode: 'BALLOONING' | 'HOTPLUG';
}

const defined = <T extends object>(values: T): T =>
  Object.fromEntries(Object.entries(values).filter(([, value]) => value !== undefined)) as T;

export function readResize(vm: Vm): ResizeValues {
  const template: Template = vm.template;
  const old = getVector(template, 'RESIZE');
  const mode = (getSingle(template, 'MEMORY_RESIZE_MODE') ?? 'BALLOONING').trim().toUpperCase();
  if (mode !== 'BALLOONING' && mode !== 'HOTPLUG')
    throw new TranslateError('MEMORY_RESIZE_MODE', `must be BALLOONING or HOTPLUG, got '${mode}'`);
  return defined({
    vcpu: parseInteger(getSingle(template, 'VCPU')),
    oldVcpu: parseInteger(old?.['VCPU']),
    memory: parseInteger(getSingle(template, 'MEMORY')),
    oldMemory: parseInteger(old?.['MEMORY']),
    memoryMode: mode,
  });
}

// The TARGET of DISK_ID `id`.
export function diskTargetById(vm: Vm, id: string): string {
  const disk = getVectors(vm.template, 'DISK').find((vector) => vector['DISK_ID'] === id);
  const target = disk?.['TARGET'] ?? '';
  if (!/^[a-z]{2,}[a-z0-9]*$/.test(target))
    throw new TranslateError(
      `DISK[DISK_ID=${id}]`,
      disk === undefined ? `VM ${vm.id} has no such disk` : 'has no TARGET',
    );
  return target;
}

// FEATURES/MIGRATE_AUTO_CONVERGE (YES, or "initial[,increment]" percentages) and
// FEATURES/MIGRATE_COMPRESSED=YES as `virsh migrate` flags.
export function migrateFlags(vm: Vm): string[] {
  const features = getVector(vm.template, 'FEATURES');
  const flags: string[] = [];
  const converge = features?.['MIGRATE_AUTO_CONVERGE']?.trim() ?? '';
  if (isYes(converge)) flags.push('--auto-converge');
  else if (/^\d+([,:]\d+)?$/.test(converge)) {
    const [initial, increment] = converge.split(/[,:]/);
    flags.push('--auto-converge', '--auto-converge-initial', initial ?? '');
    if (increment !== undefined) flags.push('--auto-converge-increment', increment);
  } else if (converge !== '' && converge.toUpperCase() !== 'NO') {
    throw new TranslateError(
      'FEATURES/MIGRATE_AUTO_CONVERGE',
      `must be YES, NO or "initial[,increment]", got '${converge}'`,
    );
  }
  if (isYes(features?.['MIGRATE_COMPRESSED'])) flags.push('--compressed');
  return flags;
}

function attachedVector(vm: Vm, name: 'DISK' | 'NIC', key: string): string {
  const vector = getVectors(vm.template, name).find((v) => isYes(v['ATTACH']));
  const value = vector?.[key] ?? '';
  if (value === '')
    throw new TranslateError(
      `${name}[ATTACH=YES]/${key}`,
      `VM ${vm.id} has no ${name} with ATTACH=YES and a ${key}`,
    );
  return value;
}

// TARGET of the DISK being attached or detached.
export const attachedDiskTarget = (vm: Vm): string => attachedVector(vm, 'DISK', 'TARGET');
// MAC of the NIC being attached or detached.
export const attachedNicMac = (vm: Vm): string => attachedVector(vm, 'NIC', 'MAC');

// SNAPSHOT[ACTIVE=YES]: the snapshot being created, reverted to or deleted.
export function activeSnapshot(vm: Vm): { readonly id: string; readonly hypervisorId: string } {
  const snapshot = getVectors(vm.template, 'SNAPSHOT').find((v) => isYes(v['ACTIVE']));
  if (snapshot === undefined)
    throw new TranslateError('SNAPSHOT[ACTIVE=YES]', `VM ${vm.id} has no active SNAPSHOT`);
  return { id: snapshot['SNAPSHOT_ID'] ?? '', hypervisorId: snapshot['HYPERVISOR_ID'] ?? '' };
}

// DISK[RESIZE=YES]: its DISK_ID and new SIZE (MiB).
export function resizingDisk(vm: Vm): { readonly diskId: string; readonly sizeMiB: number } {
  const disk = getVectors(vm.template, 'DISK').find((v) => isYes(v['RESIZE']));
  const size = parseInteger(disk?.['SIZE']);
  if (disk === undefined || size === undefined || size < 1)
    throw new TranslateError('DISK[RESIZE=YES]', `VM ${vm.id} has no DISK with RESIZE=YES and a SIZE`);
  return { diskId: disk['DISK_ID'] ?? '', sizeMiB: size };
}
