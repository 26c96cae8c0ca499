// Reads kvmrc (--kvmrc, else ONEVMM_KVMRC, else the shipped remotes/etc/vmm/kvm/kvmrc) and lets the
// process environment beat the file, as SPEC §3.1 says.
import { join } from 'node:path';
import { readKvmConfig, type KvmConfig } from '../config/kvm-config.js';
import { parseKvmrc } from '../config/parse-kvmrc.js';
import { readTextFile } from './load-vm.js';
import { findPackageRoot } from './paths.js';

// Variables that count when set only in the environment.
const KNOWN = [
  'LIBVIRT_URI', 'QEMU_PROTOCOL', 'SHUTDOWN_TIMEOUT', 'FORCE_DESTROY', 'CANCEL_NO_ACPI', 'MIGRATE_OPTIONS',
  'SYNC_TIME', 'VIRSH_RETRIES', 'VIRSH_TIMEOUT', 'LIBVIRT_MD_URI', 'LIBVIRT_MD_KEY', 'SSH_USER', 'SSH_PORT',
  'SSH_IDENTITY', 'SSH_KNOWN_HOSTS', 'SSH_HOST_KEY_POLICY', 'SSH_CONNECT_TIMEOUT', 'SSH_MAX_CHANNELS', 'VIRSH_SHELLS',
  'COMMAND_TIMEOUT', 'SHUTDOWN_RESEND', 'DEPLOYMENT_SOURCE', 'MIGRATE_TIMEOUT', 'TM_TIMEOUT',
]; // prettier-ignore

export function resolveKvmrcPath(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return flag ?? env['ONEVMM_KVMRC'] ?? join(findPackageRoot(), 'remotes/etc/vmm/kvm/kvmrc');
}

// The kvmrc variables with the environment applied, and the typed settings.
export async function loadKvmrc(
  flag: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ readonly vars: Record<string, string>; readonly config: KvmConfig; readonly path: string }> {
  const path = resolveKvmrcPath(flag, env);
  const vars = parseKvmrc(await readTextFile(path, 'kvmrc'), { file: path, env });
  for (const name of new Set([...Object.keys(vars), ...KNOWN])) {
    const value = env[name];
    if (value !== undefined && (name in vars || KNOWN.includes(name) || name.startsWith('DEFAULT_ATTACH_')))
      vars[name] = value;
  }
  return { vars, config: readKvmConfig(vars), path };
}
