// Where OpenNebula keeps what the steps of oned's actions run: the remotes tree on the front-end
// (TM, DS and local VNM scripts) and SCRIPTS_REMOTE_DIR on the hosts (VNM scripts), found as
// OpenNebula's own driver finds them (DriverExecHelper): ONE_LOCATION, else the system paths.

export interface OneLocations {
  // <remotes>: $ONE_LOCATION/var/remotes, else /var/lib/one/remotes.
  readonly remotesDir: string;
  // The hosts' copy of the remotes (oned.conf SCRIPTS_REMOTE_DIR, default /var/tmp/one).
  readonly scriptsRemoteDir: string;
}

export const DEFAULT_SCRIPTS_REMOTE_DIR = '/var/tmp/one';

// The remotes tree on the front-end.
export function remotesDirectory(env: NodeJS.ProcessEnv): string {
  const location = env['ONE_LOCATION'];
  return location === undefined || location === '' ? '/var/lib/one/remotes' : `${location}/var/remotes`;
}

// The file oned writes at start with its whole configuration as NAME=value lines.
export function onedConfigFile(env: NodeJS.ProcessEnv): string {
  const location = env['ONE_LOCATION'];
  return location === undefined || location === '' ? '/var/lib/one/config' : `${location}/var/config`;
}

// The environment file OpenNebula's driver wrapper sources before it starts the driver
// (LIVE_DISK_SNAPSHOTS, VNMAD_LOCAL_ACTIONS): $ONE_LOCATION/etc/vmm_exec/vmm_execrc, else /etc/one/….
export function vmmExecrcFile(env: NodeJS.ProcessEnv): string {
  const location = env['ONE_LOCATION'];
  return location === undefined || location === ''
    ? '/etc/one/vmm_exec/vmm_execrc'
    : `${location}/etc/vmm_exec/vmm_execrc`;
}

// SCRIPTS_REMOTE_DIR from the text of oned's config dump (the first one, as Ruby's driver reads
// it), or undefined when it has none.
export function readScriptsRemoteDir(configText: string): string | undefined {
  for (const line of configText.split('\n')) {
    const match = /^([^=]+)=(.*)$/.exec(line);
    if (match?.[1]?.trim().toUpperCase() === 'SCRIPTS_REMOTE_DIR') {
      const value = (match[2] ?? '').trim();
      if (value !== '') return value;
    }
  }
  return undefined;
}
