// Paths on the host as oned names them in an action's payload. onevmm builds no path of its own
// when the payload has one: a front-end with another DATASTORE_LOCATION must keep working.
import type { ActionData } from './vm.js';

// The directory part of an absolute path ('/' for a file at the root).
export function parentDirectory(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash <= 0 ? '/' : path.slice(0, slash);
}

// The VM's directory in its system datastore on the host: the folder of REMOTE_DEPLOYMENT_FILE
// (DEPLOY), else <DATASTORE/BASE_PATH>/<vmid>; undefined when the payload names neither.
export function vmDirectoryOf(data: ActionData): string | undefined {
  if (data.remoteDeploymentFile?.startsWith('/') === true) return parentDirectory(data.remoteDeploymentFile);
  const base = data.datastore?.basePath;
  if (base?.startsWith('/') === true && data.vm !== undefined)
    return `${base.replace(/(?<=.)\/+$/, '')}/${data.vm.id}`;
  return undefined;
}
