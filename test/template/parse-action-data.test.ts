import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { getSingle, getVectors } from '../../src/template/model.js';
import { decodeStdinDocument, parseActionData } from '../../src/template/parse-action-data.js';
import { parseVmXml } from '../../src/template/parse-vm-xml.js';
import { ParseError } from '../../src/util/errors.js';

const fixture = (name: string): string =>
  readFileSync(new URL(`../fixtures/vm-xml/${name}`, import.meta.url), 'utf8');

const deployXml = fixture('deploy-42.xml');
const base64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');
// Ruby's Base64.encode64 layout: 60 characters per line, each line ending in "\n".
const base64Lines = (text: string): string => `${base64(text).replace(/.{60}/g, '$&\n')}\n`;

const parse = (payload: string) => parseActionData(payload, { file: 'deploy' });

function parseError(payload: string): ParseError {
  try {
    parse(payload);
  } catch (error) {
    expect(error).toBeInstanceOf(ParseError);
    return error as ParseError;
  }
  throw new Error(`no ParseError for ${payload}`);
}

describe('parseActionData on a DEPLOY envelope (deploy-42.xml)', () => {
  const data = parse(deployXml);

  it('reads the envelope fields, empty elements as undefined', () => {
    expect({
      ...data,
      vm: undefined,
      datastore: undefined,
      vmXml: undefined,
      datastoreXml: undefined,
    }).toEqual({
      host: 'node2',
      migrHost: undefined,
      deployId: undefined,
      localDeploymentFile: '/var/lib/one/vms/42/deployment.1',
      remoteDeploymentFile: '/var/lib/one//datastores/100/42/deployment.1',
      checkpointFile: undefined,
      tmCommand:
        'CONTEXT shared /var/lib/one/vms/42/context.sh node2:/var/lib/one//datastores/100/42/disk.2 42 100\n',
      tmCommandRollback: undefined,
      diskTargetPath: '/var/lib/one//datastores/100/42/disk.2',
      securityGroupId: undefined,
      virtualNetworkId: undefined,
      vm: undefined,
      datastore: undefined,
      vmXml: undefined,
      datastoreXml: undefined,
    });
  });

  it('keeps the <VM> and <DATASTORE> elements as written, for vm.xml, ds.xml and the drivers', () => {
    const vmStart = deployXml.indexOf('<VM>');
    expect(data.vmXml).toBe(deployXml.slice(vmStart, deployXml.indexOf('</VM>') + '</VM>'.length));
    expect(data.datastoreXml?.startsWith('<DATASTORE>')).toBe(true);
    expect(data.datastoreXml?.endsWith('</DATASTORE>')).toBe(true);
  });

  it('reads the VM with the same code as parseVmXml', () => {
    const shown = parseVmXml(fixture('vm-42.xml'), { file: 'vm-42.xml' });
    expect(data.vm).toMatchObject({ id: 42, name: 'web-42', deployId: 'one-42', lcmState: 20 });
    expect(data.vm?.template).toEqual(shown.template);
    expect(data.vm?.userTemplate).toEqual(shown.userTemplate);
    expect(getVectors(data.vm!.template, 'DISK').map((disk) => disk['DISK_ID'])).toEqual(['0', '1']);
    expect(data.vm?.history).toEqual(shown.history);
  });

  it('reads the system datastore ID and TEMPLATE', () => {
    expect(data.datastore?.id).toBe(100);
    expect(data.datastore?.template.attributes.map((a) => a.name)).toEqual([
      'ALLOW_ORPHANS',
      'DISK_TYPE',
      'DS_MIGRATE',
      'RESTRICTED_DIRS',
      'SAFE_DIRS',
      'SHARED',
      'TM_MAD',
      'TYPE',
    ]);
    expect(getSingle(data.datastore!.template, 'TM_MAD')).toBe('shared');
    expect(getSingle(data.datastore!.template, 'TYPE')).toBe('SYSTEM_DS');
  });

  it('reads the same data from base64, on one line or wrapped every 60 characters', () => {
    expect(parse(base64(deployXml))).toEqual(data);
    expect(parse(base64Lines(deployXml))).toEqual(data);
    expect(parse(`  ${base64(deployXml).replace(/(.{76})/g, '$1\r\n')}  `)).toEqual(data);
  });
});

describe('parseActionData fields by action', () => {
  it('reads MIGR_HOST, CHECKPOINT_FILE and a multi-line TM_COMMAND as written', () => {
    const data = parse(
      '<VMM_DRIVER_ACTION_DATA><HOST>node1</HOST><MIGR_HOST>node2</MIGR_HOST><DEPLOY_ID>one-42</DEPLOY_ID>' +
        '<LOCAL_DEPLOYMENT_FILE/><REMOTE_DEPLOYMENT_FILE/><CHECKPOINT_FILE>/var/lib/one//datastores/100/42/checkpoint</CHECKPOINT_FILE>' +
        '<TM_COMMAND><![CDATA[DELETE shared node1:/a 42 100\nDELETE shared node1:/b 42 100\n]]></TM_COMMAND>' +
        '<TM_COMMAND_ROLLBACK><![CDATA[DELETE ssh x]]></TM_COMMAND_ROLLBACK><DISK_TARGET_PATH/>' +
        '<SECURITY_GROUP_ID>3</SECURITY_GROUP_ID></VMM_DRIVER_ACTION_DATA>',
    );
    expect(data).toMatchObject({
      host: 'node1',
      migrHost: 'node2',
      deployId: 'one-42',
      localDeploymentFile: undefined,
      checkpointFile: '/var/lib/one//datastores/100/42/checkpoint',
      tmCommand: 'DELETE shared node1:/a 42 100\nDELETE shared node1:/b 42 100\n',
      tmCommandRollback: 'DELETE ssh x',
      diskTargetPath: undefined,
      vm: undefined,
      datastore: undefined,
    });
  });

  it('reads an empty DATASTORE as undefined and a DATASTORE without TEMPLATE as an empty template', () => {
    expect(parse('<VMM_DRIVER_ACTION_DATA><DATASTORE/></VMM_DRIVER_ACTION_DATA>').datastore).toBeUndefined();
    expect(
      parse('<VMM_DRIVER_ACTION_DATA><DATASTORE><ID>0</ID></DATASTORE></VMM_DRIVER_ACTION_DATA>').datastore,
    ).toEqual({
      id: 0,
      template: { attributes: [] },
    });
  });
});

describe('parseActionData errors', () => {
  it('refuses a payload that is neither XML nor base64', () => {
    for (const junk of ['hello world', 'abc', 'QUJD*', 'QUJD=QUJD', 'QQ', 'Q===', '', '  \n ']) {
      const error = parseError(junk);
      expect(error.reason).toBe('payload is neither XML nor base64');
      expect(error.position).toEqual({ file: 'deploy', line: 1 });
    }
  });

  it('refuses base64 that is not UTF-8 or not XML', () => {
    expect(parseError(Buffer.from([0xff, 0xfe, 0x00, 0x80]).toString('base64')).reason).toBe(
      'base64 payload does not decode to UTF-8 text',
    );
    expect(parseError(base64('DEPLOY 42')).reason).toBe('base64 payload does not decode to XML');
  });

  it('reports XML errors inside a base64 payload with line and column', () => {
    const error = parseError(base64('<VMM_DRIVER_ACTION_DATA>\n<HOST>h</HOS>\n</VMM_DRIVER_ACTION_DATA>'));
    expect(error.position).toMatchObject({ file: 'deploy', line: 2 });
    expect(error.position.column).toBeGreaterThan(0);
  });

  it('names the root element when it is not VMM_DRIVER_ACTION_DATA', () => {
    expect(parseError('<VM><ID>1</ID><TEMPLATE/></VM>').reason).toBe(
      'expected root element <VMM_DRIVER_ACTION_DATA>, found <VM>',
    );
  });

  it('refuses a VM without ID and a non-numeric DATASTORE ID', () => {
    expect(parseError('<VMM_DRIVER_ACTION_DATA><VM><TEMPLATE/></VM></VMM_DRIVER_ACTION_DATA>').reason).toBe(
      '<VM> has no <ID> element',
    );
    expect(
      parseError('<VMM_DRIVER_ACTION_DATA><DATASTORE><ID>x</ID></DATASTORE></VMM_DRIVER_ACTION_DATA>').reason,
    ).toMatch(/^<ID> must be a non-negative integer/);
  });

  it('refuses DOCTYPE declarations in raw and base64 payloads', () => {
    const doc =
      '<!DOCTYPE x [<!ENTITY a "b">]><VMM_DRIVER_ACTION_DATA><HOST>&a;</HOST></VMM_DRIVER_ACTION_DATA>';
    expect(parseError(doc).reason).toMatch(/DOCTYPE/);
    expect(parseError(base64(doc)).reason).toMatch(/DOCTYPE/);
  });
});

describe('decodeStdinDocument', () => {
  it('returns raw XML unchanged', () => {
    expect(decodeStdinDocument(deployXml)).toBe(deployXml);
    expect(decodeStdinDocument('\n  <VM/>\n')).toBe('\n  <VM/>\n');
  });

  it('decodes base64, including wrapped lines, to the exact text', () => {
    const text = '<VM><NAME>é😀 &amp; ]]&gt;</NAME></VM>\n';
    expect(decodeStdinDocument(base64(text))).toBe(text);
    expect(decodeStdinDocument(base64Lines(deployXml))).toBe(deployXml);
  });

  it('names the given file in its errors, <stdin> by default', () => {
    expect(() => decodeStdinDocument('%%')).toThrow('<stdin>:1: payload is neither XML nor base64');
    expect(() => decodeStdinDocument('%%', { file: 'vm.b64' })).toThrow(
      'vm.b64:1: payload is neither XML nor base64',
    );
  });
});
