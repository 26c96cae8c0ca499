// What every section of the translation needs: the VM, the lookups and the derived facts.
import type { Template } from '../template/model.js';
import type { Vm } from '../template/vm.js';
import { TranslateError } from '../util/errors.js';
import { Lookup } from './lookup.js';

export const DEFAULT_DATASTORE_LOCATION = '/var/lib/one//datastores';
export const DEFAULT_EMULATOR = '/usr/bin/qemu-kvm-one';

export interface TranslateOptions {
  // The driver defaults (vmm_exec_kvm.conf) in replace mode.
  readonly defaults: Template;
  // The libvirt domain type: VM_MAD TYPE (kvm, or qemu for emulation).
  readonly domainType?: 'kvm' | 'qemu';
  // The VM's directory on the host (disk.<n>, the context CD-ROM, NVRAM, metadata), as the payload
  // names it (see vmDirectoryOf); beats the history and datastoreLocation.
  readonly systemDir?: string;
  // DATASTORE_LOCATION when the VM's history does not name one.
  readonly datastoreLocation?: string;
  // The system datastore id when the VM has no history record (template files).
  readonly systemDatastoreId?: number;
  // DISK_TYPE of the system datastore (BLOCK makes the context CD-ROM a block device).
  readonly systemDatastoreDiskType?: string;
  // Written to one:deployment_time when given (seconds since the epoch); left out otherwise so
  // that the same VM always gives the same bytes.
  readonly deploymentTime?: number;
  // Makes the GRAPHICS password when RANDOM_PASSWD=YES and PASSWD is empty (default: crypto random).
  readonly generatePassword?: (length: number) => string;
}

export interface TranslateContext {
  readonly vm: Vm;
  readonly look: Lookup;
  readonly options: TranslateOptions;
  readonly systemDir: string;
  readonly arch: string;
  readonly machine: string | undefined;
  // q35 or virt machines: PCIe controllers, SATA for CD-ROMs and hd* disks.
  readonly isQ35: boolean;
  // The VCPU value (default 1) and the maximum number of vCPUs (VCPU_MAX, else VCPU).
  readonly vcpu: number;
  readonly vcpuMax: number;
  readonly iothreads: number;
}

// Derives the context; fails like OpenNebula when ARCH has no value anywhere.
export function createContext(vm: Vm, options: TranslateOptions): TranslateContext {
  const look = new Lookup(vm.template, options.defaults);
  const arch = look.vector('OS', 'ARCH');
  if (arch === undefined || arch === '') {
    throw new TranslateError('OS/ARCH', 'No ARCH defined and no default provided.');
  }
  const machine = look.vector('OS', 'MACHINE') || undefined;
  const location = vm.history?.dsLocation ?? options.datastoreLocation ?? DEFAULT_DATASTORE_LOCATION;
  const dsId = vm.history?.dsId ?? options.systemDatastoreId ?? 0;
  const vcpuMaxSetting = positive(look.int('VCPU_MAX'), 'VCPU_MAX');
  const vcpu = positive(look.int('VCPU'), 'VCPU') ?? vcpuMaxSetting ?? 1;
  const vcpuMax = vcpuMaxSetting ?? vcpu;
  if (vcpu > vcpuMax)
    throw new TranslateError('VCPU', `VCPU (${vcpu}) is greater than VCPU_MAX (${vcpuMax})`);
  return {
    vm,
    look,
    options,
    systemDir:
      options.systemDir === undefined
        ? checkPath('HISTORY/DS_LOCATION', `${location.replace(/\/+$/, '')}/${dsId}/${vm.id}`)
        : checkPath('DATASTORE/BASE_PATH', options.systemDir),
    arch,
    machine,
    isQ35: machine !== undefined && /q35|virt/.test(machine),
    vcpu,
    vcpuMax,
    iothreads: Math.max(0, look.vectorInt('FEATURES', 'IOTHREADS') ?? 0),
  };
}

function positive(value: number | undefined, name: string): number | undefined {
  if (value !== undefined && value < 1) throw new TranslateError(name, `must be at least 1, got ${value}`);
  return value;
}

// Resolves a queue count: `auto` means one queue per vCPU; a non-integer is dropped.
export function resolveQueues(ctx: TranslateContext, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (value.trim().toLowerCase() === 'auto') return ctx.vcpu;
  const parsed = /^\s*\d+\s*$/.test(value) ? Number.parseInt(value, 10) : undefined;
  return parsed !== undefined && parsed > 0 ? parsed : undefined;
}

// A path must be one line: libvirt's schema (absFilePath) refuses line breaks in paths.
export function checkPath(attribute: string, value: string): string {
  if (/[\n\r]/.test(value)) throw new TranslateError(attribute, 'a path cannot contain line breaks');
  return value;
}
