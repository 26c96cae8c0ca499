import { describe, expect, it } from 'vitest';
import { parentDirectory, vmDirectoryOf } from '../../src/template/action-paths.js';
import type { ActionData, Vm } from '../../src/template/vm.js';

const vm = { id: 7, name: 'v', template: { attributes: [] }, userTemplate: { attributes: [] } } as Vm;
const datastore = (basePath?: string): ActionData['datastore'] => ({
  id: 0,
  ...(basePath === undefined ? {} : { basePath }),
  template: { attributes: [] },
});

describe('vmDirectoryOf', () => {
  it('is the folder of REMOTE_DEPLOYMENT_FILE when there is one', () => {
    expect(
      vmDirectoryOf({
        vm,
        remoteDeploymentFile: '/srv/one//datastores/0/7/deployment.0',
        datastore: datastore('/x/0'),
      }),
    ).toBe('/srv/one//datastores/0/7');
  });

  it("is <DATASTORE/BASE_PATH>/<vmid> otherwise, as oned writes it (a '//' stays)", () => {
    expect(vmDirectoryOf({ vm, datastore: datastore('/srv/one//datastores/100') })).toBe(
      '/srv/one//datastores/100/7',
    );
    expect(vmDirectoryOf({ vm, datastore: datastore('/srv/ds/100/') })).toBe('/srv/ds/100/7');
  });

  it('is undefined when the payload names neither (the caller falls back to the history)', () => {
    expect(vmDirectoryOf({ vm })).toBeUndefined();
    expect(vmDirectoryOf({ vm, datastore: datastore() })).toBeUndefined();
    expect(vmDirectoryOf({ datastore: datastore('/srv/ds/0') })).toBeUndefined();
    expect(vmDirectoryOf({ vm, remoteDeploymentFile: 'relative/deployment.0' })).toBeUndefined();
  });
});

describe('parentDirectory', () => {
  it('is the directory part of an absolute path', () => {
    expect(parentDirectory('/a/b/c')).toBe('/a/b');
    expect(parentDirectory('/c')).toBe('/');
  });
});
