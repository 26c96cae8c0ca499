// The typed settings of the actions, read from kvmrc variables (process environment already
// applied). Defaults in one place; messages name the variable, what was expected and what came.
import { OnevmmError } from '../util/errors.js';
import { showValue } from '../util/show-value.js';

export interface KvmConfig {
  readonly libvirtUri: string;
  readonly qemuProtocol: string;
  // Seconds.
  readonly shutdownTimeout: number;
  readonly shutdownResend: number;
  readonly commandTimeout: number;
  readonly forceDestroy: boolean;
  readonly cancelNoAcpi: boolean;
  readonly syncTime: boolean;
  readonly virshRetries: number;
  readonly migrateOptions: readonly string[];
  // Seconds a live migration may take before it is aborted (domjobabort).
  readonly migrateTimeout: number;
  // Seconds a TM or DS script of a multi-step action may run on the front-end.
  readonly tmTimeout: number;
  readonly deploymentSource: 'onevmm' | 'oned';
  readonly metadataUri: string;
  readonly metadataKey: string;
  // Every variable as read, for the SSH layer and the DEFAULT_ATTACH_* values.
  readonly vars: Readonly<Record<string, string>>;
}

function fail(name: string, expected: string, value: string): never {
  throw new OnevmmError('CONFIG', `kvmrc: ${name} must be ${expected}, got ${showValue(value)}`);
}

function readSeconds(
  vars: Readonly<Record<string, string>>,
  name: string,
  fallback: number,
  min = 0,
): number {
  const value = vars[name];
  if (value === undefined || value.trim() === '') return fallback;
  if (!/^\s*\d+(\.\d+)?\s*$/.test(value) || Number(value) < min)
    fail(name, `a number of seconds ≥ ${min}`, value);
  return Number(value);
}

function readBoolean(vars: Readonly<Record<string, string>>, name: string, fallback: boolean): boolean {
  const value = vars[name]?.trim().toLowerCase();
  if (value === undefined || value === '') return fallback;
  if (value === 'yes' || value === 'true' || value === '1') return true;
  if (value === 'no' || value === 'false' || value === '0') return false;
  return fail(name, 'yes or no', vars[name] ?? '');
}

// Reads the action settings with OpenNebula's defaults (reference §3.3) and onevmm's own.
export function readKvmConfig(vars: Readonly<Record<string, string>>): KvmConfig {
  const source = (vars['DEPLOYMENT_SOURCE'] ?? 'oned').trim().toLowerCase() || 'oned';
  if (source !== 'onevmm' && source !== 'oned')
    fail('DEPLOYMENT_SOURCE', 'onevmm or oned', vars['DEPLOYMENT_SOURCE'] ?? '');
  const options = (vars['MIGRATE_OPTIONS'] ?? '').trim();
  const retriesText = vars['VIRSH_RETRIES']?.trim() ?? '';
  if (retriesText !== '' && !/^\d+$/.test(retriesText))
    fail('VIRSH_RETRIES', 'a whole number of tries', retriesText);
  const virshRetries = retriesText === '' ? 3 : Number(retriesText);
  return {
    libvirtUri: vars['LIBVIRT_URI']?.trim() || 'qemu:///system',
    qemuProtocol: vars['QEMU_PROTOCOL']?.trim() || 'qemu+ssh',
    shutdownTimeout: readSeconds(vars, 'SHUTDOWN_TIMEOUT', 180),
    shutdownResend: readSeconds(vars, 'SHUTDOWN_RESEND', 10, 0.1),
    commandTimeout: readSeconds(vars, 'COMMAND_TIMEOUT', 60, 1),
    forceDestroy: readBoolean(vars, 'FORCE_DESTROY', true),
    cancelNoAcpi: readBoolean(vars, 'CANCEL_NO_ACPI', false),
    syncTime: readBoolean(vars, 'SYNC_TIME', true),
    virshRetries,
    migrateOptions: options === '' ? [] : options.split(/\s+/),
    migrateTimeout: readSeconds(vars, 'MIGRATE_TIMEOUT', 900, 1),
    tmTimeout: readSeconds(vars, 'TM_TIMEOUT', 3600, 1),
    deploymentSource: source,
    metadataUri: vars['LIBVIRT_MD_URI']?.trim() || 'http://opennebula.org/xmlns/libvirt/1.0',
    metadataKey: vars['LIBVIRT_MD_KEY']?.trim() || 'one',
    vars,
  };
}
