import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadStepEnv } from '../../src/steps/step-env.js';

const dir = mkdtempSync(join(tmpdir(), 'onevmm-one-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('loadStepEnv', () => {
  it("reads ONE_LOCATION, oned's config, -l and VNMAD_LOCAL_ACTIONS", () => {
    mkdirSync(join(dir, 'var/remotes/tm/shared'), { recursive: true });
    writeFileSync(join(dir, 'var/remotes/tm/shared/clone'), '');
    writeFileSync(join(dir, 'var/config'), 'SCRIPTS_REMOTE_DIR=/srv/remotes\n');
    mkdirSync(join(dir, 'etc/vmm_exec'), { recursive: true });
    // as OpenNebula ships it; the file beats the environment, as OpenNebula's wrapper sources it
    writeFileSync(
      join(dir, 'etc/vmm_exec/vmm_execrc'),
      '# comment\nLIVE_DISK_SNAPSHOTS="kvm-qcow2 kvm-shared qemu-ssh"\n',
    );

    const env = loadStepEnv(
      {
        ONE_LOCATION: dir,
        VNMAD_LOCAL_ACTIONS: ' elastic-post  elastic-clean ',
        LIVE_DISK_SNAPSHOTS: 'kvm-ceph',
      },
      new Map([
        ['pre', undefined],
        ['migrate', 'migrate_local'],
      ]),
      120,
    );

    expect(env.locations).toEqual({ remotesDir: `${dir}/var/remotes`, scriptsRemoteDir: '/srv/remotes' });
    expect([...env.localActions]).toEqual(['PRE', 'MIGRATE']);
    expect([...env.vnmadLocalActions]).toEqual(['elastic-post', 'elastic-clean']);
    expect([...env.liveDiskSnapshots]).toEqual(['kvm-qcow2', 'kvm-shared', 'qemu-ssh']);
    expect(env.tmTimeoutSeconds).toBe(120);
    expect(env.isDirectory(`${dir}/var/remotes/tm/shared`)).toBe(true);
    expect(env.isFile(`${dir}/var/remotes/tm/shared/clone`)).toBe(true);
    expect(env.isFile(`${dir}/var/remotes/tm/shared`)).toBe(false);
    expect(env.takeWarnings?.()).toEqual([]);
  });

  it("falls back to /var/tmp/one without oned's config, and says so once", () => {
    const env = loadStepEnv({ ONE_LOCATION: join(dir, 'nowhere') }, new Map(), 3600);

    expect(env.locations.scriptsRemoteDir).toBe('/var/tmp/one');
    expect(env.takeWarnings?.()).toEqual([
      `cannot read oned's ${dir}/nowhere/var/config (ENOENT): network drivers run from /var/tmp/one`,
    ]);
    expect(env.takeWarnings?.()).toEqual([]);
  });
});
