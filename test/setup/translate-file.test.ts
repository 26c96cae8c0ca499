// translateFile on oned's action data: the paths come from the payload, not from /var/lib/one.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { translateFile } from '../../src/setup/translate-file.js';

const deployXml = readFileSync(new URL('../fixtures/vm-xml/deploy-42.xml', import.meta.url), 'utf8');
const dir = mkdtempSync(join(tmpdir(), 'onevmm-translate-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('translateFile of a VMM_DRIVER_ACTION_DATA document', () => {
  it('puts disks, the context CD-ROM and the metadata in the folder of REMOTE_DEPLOYMENT_FILE', async () => {
    const file = join(dir, 'deploy-srv.xml');
    writeFileSync(file, deployXml.replaceAll('/var/lib/one//datastores/100', '/srv/cloud/ds/100'));

    const { xml } = await translateFile(file, {});

    expect(xml).toContain("<source file='/srv/cloud/ds/100/42/disk.0'/>");
    expect(xml).toContain("<source file='/srv/cloud/ds/100/42/disk.2'/>");
    expect(xml).toMatch(/<one:system_datastore>\/srv\/cloud\/ds\/100\/42<\/one:system_datastore>/);
    expect(xml).not.toContain('/var/lib/one//datastores/100');
  });

  it('uses <DATASTORE/BASE_PATH>/<vmid> when there is no deployment file', async () => {
    const file = join(dir, 'base-path.xml');
    writeFileSync(
      file,
      deployXml
        .replace(/<REMOTE_DEPLOYMENT_FILE>.*?<\/REMOTE_DEPLOYMENT_FILE>/s, '<REMOTE_DEPLOYMENT_FILE/>')
        .replace(/<BASE_PATH>.*?<\/BASE_PATH>/s, '<BASE_PATH>/data/one/100</BASE_PATH>'),
    );

    const { xml } = await translateFile(file, {});

    expect(xml).toContain("<source file='/data/one/100/42/disk.0'/>");
  });
});
