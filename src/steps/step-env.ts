// How the driver runs the TM, VNM and DS steps, read once at start as OpenNebula's driver reads it:
// the remotes tree from ONE_LOCATION, SCRIPTS_REMOTE_DIR from oned's config dump, -l, and
// vmm_execrc (VNMAD_LOCAL_ACTIONS, LIVE_DISK_SNAPSHOTS), which OpenNebula's wrapper sources over
// oned's environment (so the file wins, as there).
import { readFileSync, statSync } from 'node:fs';
import { parseKvmrc } from '../config/parse-kvmrc.js';
import {
  DEFAULT_SCRIPTS_REMOTE_DIR,
  onedConfigFile,
  readScriptsRemoteDir,
  remotesDirectory,
  vmmExecrcFile,
} from './one-locations.js';
import type { StepEnv } from './run-steps.js';

function isKind(path: string, kind: 'directory' | 'file'): boolean {
  try {
    const stat = statSync(path);
    return kind === 'directory' ? stat.isDirectory() : stat.isFile();
  } catch {
    return false;
  }
}

// The step environment; what is amiss with it is said once, in the log of the first VM whose
// network drivers run on a host.
export function loadStepEnv(
  env: NodeJS.ProcessEnv,
  localActions: ReadonlyMap<string, string | undefined>,
  tmTimeoutSeconds: number,
): StepEnv {
  const warnings: string[] = [];
  const configFile = onedConfigFile(env);
  let scriptsRemoteDir: string | undefined;
  try {
    scriptsRemoteDir = readScriptsRemoteDir(readFileSync(configFile, 'utf8'));
    if (scriptsRemoteDir === undefined)
      warnings.push(
        `${configFile} names no SCRIPTS_REMOTE_DIR: network drivers run from ${DEFAULT_SCRIPTS_REMOTE_DIR}`,
      );
  } catch (error) {
    warnings.push(
      `cannot read oned's ${configFile} (${(error as NodeJS.ErrnoException).code ?? String(error)}): network drivers run from ${DEFAULT_SCRIPTS_REMOTE_DIR}`,
    );
  }
  const rcFile = vmmExecrcFile(env);
  let rc: Record<string, string> = {};
  try {
    rc = parseKvmrc(readFileSync(rcFile, 'utf8'), { file: rcFile, env });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
      warnings.push(`cannot read ${rcFile}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const words = (name: string): Set<string> =>
    new Set((rc[name] ?? env[name] ?? '').split(/\s+/).filter((word) => word !== ''));
  return {
    locations: {
      remotesDir: remotesDirectory(env),
      scriptsRemoteDir: scriptsRemoteDir ?? DEFAULT_SCRIPTS_REMOTE_DIR,
    },
    localActions: new Set([...localActions.keys()].map((name) => name.toUpperCase())),
    vnmadLocalActions: words('VNMAD_LOCAL_ACTIONS'),
    liveDiskSnapshots: words('LIVE_DISK_SNAPSHOTS'),
    tmTimeoutSeconds,
    isDirectory: (path) => isKind(path, 'directory'),
    isFile: (path) => isKind(path, 'file'),
    takeWarnings: () => warnings.splice(0),
  };
}
