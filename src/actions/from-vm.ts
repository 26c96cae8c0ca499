// The post-deployment actions driven by oned's action document (VMM_DRIVER_ACTION_DATA): the
// device XML of a hot-plug is translated from the VM, resize sizes and migration flags are read
// from it. Shared by the driver and both CLI faces.
import { getSingle, type Template } from '../template/model.js';
import type { ActionData, Vm } from '../template/vm.js';
import { vmDirectoryOf } from '../template/action-paths.js';
import { diskTargetById, migrateFlags, readResize } from '../translate/action-inputs.js';
import { buildAttachDisk, buildAttachNic } from '../translate/attach.js';
import type { TranslateOptions } from '../translate/context.js';
import { isYes } from '../translate/lookup.js';
import { OnevmmError, TranslateError } from '../util/errors.js';
import type { ActionContext } from './context.js';
import { attachDisk, attachNic } from './hotplug.js';
import { migrate, type MigrateResult, type MigrationProgress } from './migrate.js';
import { resize, resizeDisk } from './resize.js';

export interface VmActionInput {
  readonly host: string;
  readonly domain: string;
  readonly data: ActionData;
}

function requireVm(data: ActionData, action: string): Vm {
  if (data.vm === undefined) throw new OnevmmError('ACTION', `${action}: the action document has no <VM>`);
  return data.vm;
}

// TranslateErrors name the VM and the action.
function translating<T>(action: string, vm: Vm, build: () => T): T {
  try {
    return build();
  } catch (error) {
    if (error instanceof TranslateError)
      throw new OnevmmError('TRANSLATE', `${action} of VM ${vm.id}: ${error.message}`, { cause: error });
    throw error;
  }
}

// Translation options from the payload: the VM's directory and the system datastore's disk type.
export function translateOptions(data: ActionData, vm: Vm, defaults: Template): TranslateOptions {
  const diskType = data.datastore === undefined ? undefined : getSingle(data.datastore.template, 'DISK_TYPE');
  const systemDir = vmDirectoryOf(data);
  return {
    defaults,
    domainType: vm.history?.vmMad === 'qemu' ? 'qemu' : 'kvm',
    ...(diskType === undefined ? {} : { systemDatastoreDiskType: diskType }),
    ...(systemDir === undefined ? {} : { systemDir }),
  };
}

// The <disk> attach_disk would plug (for --dry-run and the action). Its file is `source` (the
// script's argument), else the payload's DISK_TARGET_PATH, else <VM dir>/disk.<DISK_ID>.
export function attachDiskXml(
  ctx: ActionContext,
  data: ActionData,
  defaults: Template,
  source?: string,
): { xml: string; target: string } {
  const vm = requireVm(data, 'attach_disk');
  const path = source || data.diskTargetPath || undefined;
  const built = translating('attach_disk', vm, () =>
    buildAttachDisk(vm, translateOptions(data, vm, defaults), ctx.config.vars, path),
  );
  for (const warning of built.warnings) ctx.log('W', warning);
  return { xml: built.xml, target: built.key };
}

export async function attachDiskFromVm(
  ctx: ActionContext,
  input: VmActionInput & { readonly defaults: Template; readonly target?: string; readonly source?: string },
): Promise<{ readonly target: string }> {
  const { xml, target } = attachDiskXml(ctx, input.data, input.defaults, input.source);
  if (input.target !== undefined && input.target !== '' && input.target !== target) {
    throw new OnevmmError(
      'ACTION',
      `attach_disk: the target argument ${input.target} differs from DISK[ATTACH=YES]/TARGET ${target}`,
    );
  }
  await attachDisk(ctx, { host: input.host, domain: input.domain, target, diskXml: xml });
  return { target };
}

export async function attachNicFromVm(
  ctx: ActionContext,
  input: VmActionInput & { readonly defaults: Template },
): Promise<{ readonly mac: string }> {
  const vm = requireVm(input.data, 'attach_nic');
  const built = translating('attach_nic', vm, () =>
    buildAttachNic(vm, translateOptions(input.data, vm, input.defaults), ctx.config.vars),
  );
  await attachNic(ctx, { host: input.host, domain: input.domain, mac: built.key, nicXml: built.xml });
  return { mac: built.key };
}

export async function resizeFromVm(
  ctx: ActionContext,
  input: VmActionInput,
): Promise<{ readonly changed: string[] }> {
  const vm = requireVm(input.data, 'resize');
  const values = translating('resize', vm, () => readResize(vm));
  return resize(ctx, { host: input.host, domain: input.domain, ...values });
}

export async function resizeDiskFromVm(
  ctx: ActionContext,
  input: VmActionInput & { readonly diskId: string; readonly sizeMiB: number },
): Promise<{ readonly target: string }> {
  const vm = requireVm(input.data, 'resize_disk');
  const target = translating('resize_disk', vm, () => diskTargetById(vm, input.diskId));
  await resizeDisk(ctx, { host: input.host, domain: input.domain, target, sizeMiB: input.sizeMiB });
  return { target };
}

export async function migrateFromVm(
  ctx: ActionContext,
  input: {
    readonly source: string;
    readonly destination: string;
    readonly domain: string;
    readonly data?: ActionData;
    readonly driveFrom: 'source' | 'front-end';
    readonly copyStorage?: boolean;
    readonly onProgress?: (progress: MigrationProgress) => void;
  },
): Promise<MigrateResult> {
  const vm = input.data?.vm;
  const vmOptions = vm === undefined ? [] : translating('migrate', vm, () => migrateFlags(vm));
  // oned names the VM's folder on both hosts: <DATASTORE/BASE_PATH>/<vmid> of the system datastore
  // it leaves, and DISK_TARGET_PATH, the folder on the destination.
  const sourceDir = input.data === undefined ? undefined : vmDirectoryOf(input.data);
  const destinationDir = input.data?.diskTargetPath || undefined;
  if (
    sourceDir !== undefined &&
    destinationDir !== undefined &&
    sourceDir.replace(/\/+/g, '/') !== destinationDir.replace(/\/+/g, '/')
  )
    throw new OnevmmError(
      'ACTION',
      `migrate: the VM's folder changes (${sourceDir} to ${destinationDir}): a live migration into another system datastore is not supported by onevmm yet`,
    );
  const vmDir = destinationDir ?? sourceDir;
  // A system datastore that is not shared (ssh TM): the disks travel with the VM.
  const shared = input.data?.datastore?.template;
  const copyStorage =
    input.copyStorage ?? (shared === undefined ? false : !isYes(getSingle(shared, 'SHARED')));
  return migrate(ctx, {
    source: input.source,
    destination: input.destination,
    domain: input.domain,
    driveFrom: input.driveFrom,
    vmOptions,
    copyStorage,
    ...(vmDir === undefined ? {} : { vmDir }),
    ...(input.onProgress === undefined ? {} : { onProgress: input.onProgress }),
  });
}
