// `onevmm request`: one request of oned's protocol by hand, from payloads recorded from the real
// oned (--dry-run: the exact front-end and host commands, and the reply the driver would send).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runOnevmm } from './helpers.js';

const fixtures = path.join(import.meta.dirname, '../fixtures/oned');
const fixture = (name: string): string => path.join(fixtures, name);

// A front-end: the remotes tree the steps of BACKUP and DISKSNAPSHOTCREATE use, oned's config dump.
const one = mkdtempSync(path.join(tmpdir(), 'onevmm-request-'));
for (const script of [
  'tm/shared/prebackup_live',
  'tm/shared/postbackup_live',
  'tm/shared/snap_create_live',
  'datastore/rsync/backup',
]) {
  mkdirSync(path.dirname(path.join(one, 'var/remotes', script)), { recursive: true });
  writeFileSync(path.join(one, 'var/remotes', script), '#!/bin/sh\n', { mode: 0o755 });
}
writeFileSync(path.join(one, 'var/config'), 'SCRIPTS_REMOTE_DIR=/var/tmp/one\n');
mkdirSync(path.join(one, 'etc/vmm_exec'), { recursive: true });
writeFileSync(path.join(one, 'etc/vmm_exec/vmm_execrc'), 'LIVE_DISK_SNAPSHOTS="kvm-shared"\n');

beforeAll(() => vi.stubEnv('ONE_LOCATION', one));
afterAll(() => {
  vi.unstubAllEnvs();
  rmSync(one, { recursive: true, force: true });
});

const run = runOnevmm;

// The commands a --dry-run printed ("# <step>, on <where>:" then the command line).
function commands(stdout: string): string[] {
  const lines = stdout.split('\n');
  return lines.flatMap((line, i) =>
    line.startsWith('# ') && line.endsWith(':') && !line.startsWith('# stdin')
      ? [`${line.slice(2, -1)} | ${lines[i + 1] ?? ''}`]
      : [],
  );
}

describe('onevmm request', () => {
  it("UPDATESG: the network driver's update_sg on the host, the reply starting with the security group id", async () => {
    const result = await run('request', 'UPDATESG', '83', fixture('shared-updatesg.xml'), '--dry-run');
    expect(result.code).toBe(0);
    expect(commands(result.stdout)).toEqual([
      expect.stringMatching(
        /^update_sg \(bridge\), on 10\.77\.2\.11 \| .*\/var\/tmp\/one\/vnm\/bridge\/update_sg 7d355728-3d62-4a82-9cf0-62c662966201$/,
      ),
    ]);
    expect(result.stdout.trim().split('\n').at(-1)).toBe('UPDATESG SUCCESS 83 0 bridge: -');
  });

  it('BACKUP of a running VM: prebackup_live, the datastore backup, postbackup_live on the front-end', async () => {
    const result = await run('request', 'BACKUP', '83', fixture('shared-backup.xml'), '--dry-run');
    expect(result.code).toBe(0);
    const args =
      '10.77.2.11:/tmp/onevmm-kit-one/var//datastores/0/83 0 7d355728-3d62-4a82-9cf0-62c662966201 - 83 0';
    expect(commands(result.stdout)).toEqual([
      `prebackup_live (shared/prebackup_live), on front-end | LC_ALL=C timeout --kill-after=5s 3600s ${one}/var/remotes/tm/shared/prebackup_live ${args}`,
      `backup (rsync/backup), on front-end | LC_ALL=C timeout --kill-after=5s 3600s ${one}/var/remotes/datastore/rsync/backup ${args}`,
      `postbackup_live (shared/postbackup_live), on front-end | LC_ALL=C timeout --kill-after=5s 3600s ${one}/var/remotes/tm/shared/postbackup_live ${args}`,
    ]);
    expect(result.stderr).toContain('INFO: Successfully execute datastore driver operation: backup.');
    expect(result.stdout.trim().split('\n').at(-1)).toBe('BACKUP SUCCESS 83 -');
  });

  it('takes the payload as base64 too (as oned sends it), and answers --json', async () => {
    const encoded = Buffer.from(readFileSync(fixture('shared-disksnapshotcreate.xml'))).toString('base64');
    const file = path.join(one, 'payload.b64');
    writeFileSync(file, `${encoded}\n`);
    const result = await run('request', 'disksnapshotcreate', '83', file, '--dry-run', '--json');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('/var/remotes/tm/shared/snap_create_live ');
    expect(JSON.parse(result.stdout.trim().split('\n').at(-1) ?? '')).toEqual({
      action: 'DISKSNAPSHOTCREATE',
      ok: true,
      vmid: '83',
      info: '-',
    });
  });

  it('UPDATENIC for a network the VM has no NIC in: the FAILURE reply, nothing run, exit 1', async () => {
    const payload = readFileSync(fixture('shared-updatenic.xml'), 'utf8').replace(
      '<VIRTUAL_NETWORK_ID>0</VIRTUAL_NETWORK_ID>',
      '<VIRTUAL_NETWORK_ID>7</VIRTUAL_NETWORK_ID>',
    );
    const file = path.join(one, 'updatenic.xml');
    writeFileSync(file, payload);
    const result = await run('request', 'UPDATENIC', '83', file, '--dry-run');
    expect(result.code).toBe(1);
    expect(result.stdout).toBe(
      'UPDATENIC FAILURE 83 7 VM 83 has no NIC in virtual network 7: update_nic not run on 10.77.2.11\n',
    );
  });

  it('refuses an action it does not know and a VM id that is not one, naming them', async () => {
    const unknown = await run('request', 'FOO', '83', fixture('shared-updatesg.xml'));
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toEqual([
      expect.stringMatching(/^onevmm: unknown action 'FOO': one of ATTACHDISK, /),
    ]);
    const badId = await run('request', 'UPDATESG', 'one-83', fixture('shared-updatesg.xml'));
    expect(badId.stderr).toEqual(["onevmm: not a VM id: 'one-83'"]);
  });

  it("a payload that is not oned's: the FAILURE reply names what is wrong", async () => {
    const file = path.join(one, 'bad.xml');
    writeFileSync(file, '<VMM_DRIVER_ACTION_DATA><VM><ID>83</ID></VM></VMM_DRIVER_ACTION_DATA>');
    const result = await run('request', 'UPDATESG', '83', file, '--dry-run');
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('UPDATESG FAILURE 83 UPDATESG payload:1:25: <VM> has no <TEMPLATE> element\n');
  });
});
