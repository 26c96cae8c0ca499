import { describe, expect, it } from 'vitest';
import { onedConfigFile, readScriptsRemoteDir, remotesDirectory } from '../../src/steps/one-locations.js';

describe('OpenNebula locations', () => {
  it('are the system paths, or under ONE_LOCATION', () => {
    expect(remotesDirectory({})).toBe('/var/lib/one/remotes');
    expect(onedConfigFile({ ONE_LOCATION: '' })).toBe('/var/lib/one/config');
    expect(remotesDirectory({ ONE_LOCATION: '/opt/one' })).toBe('/opt/one/var/remotes');
    expect(onedConfigFile({ ONE_LOCATION: '/opt/one' })).toBe('/opt/one/var/config');
  });

  it("reads SCRIPTS_REMOTE_DIR from oned's config dump as OpenNebula's driver does", () => {
    const dump = 'PORT=2633\nscripts_remote_dir = /srv/one-remotes \nVM_MAD=NAME=kvm,EXECUTABLE=x=y\n';
    expect(readScriptsRemoteDir(dump)).toBe('/srv/one-remotes');
    expect(readScriptsRemoteDir('SCRIPTS_REMOTE_DIR=\nSCRIPTS_REMOTE_DIR=/b\n')).toBe('/b');
    expect(readScriptsRemoteDir('PORT=2633\n')).toBeUndefined();
  });
});
