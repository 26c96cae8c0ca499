// The network drivers' view of the VM, built as OpenNebula's one_vmm_exec.rb builds it.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readXmlRoot } from '../../src/template/read-xml.js';
import { parseActionData } from '../../src/template/parse-action-data.js';
import { buildVnmMessage } from '../../src/steps/vnm-message.js';

const payload = readFileSync(path.join(import.meta.dirname, '../fixtures/oned/shared-attachnic.xml'), 'utf8');
const vmXml = parseActionData(payload, { file: 'attachnic' }).vmXml ?? '';

describe('buildVnmMessage', () => {
  it('keeps the elements the drivers read, each in its own copy of its parents', () => {
    const { drivers, xml } = buildVnmMessage(vmXml);
    const root = readXmlRoot(xml, 'vnm');

    expect(drivers).toEqual(['bridge']);
    expect(
      root.children.map((child) => `${child.name}/${child.children.map((c) => c.name).join(',')}`),
    ).toEqual([
      'ID/',
      'DEPLOY_ID/',
      'TEMPLATE/CONTEXT',
      'USER_TEMPLATE/',
      'TEMPLATE/SECURITY_GROUP_RULE',
      'TEMPLATE/SECURITY_GROUP_RULE',
      // HOSTNAME, HID, DS_ID, VM_MAD of the one history record oned sends
      'HISTORY_RECORDS/HISTORY',
      'HISTORY_RECORDS/HISTORY',
      'HISTORY_RECORDS/HISTORY',
      'HISTORY_RECORDS/HISTORY',
      'TEMPLATE/NIC',
      'TEMPLATE/NIC',
    ]);
    // the elements are copied as oned wrote them, CDATA included
    expect(xml).toContain('<VN_MAD><![CDATA[bridge]]></VN_MAD>');
    expect(xml.startsWith('<VM><ID>1</ID><DEPLOY_ID>655e6750-3357-4eca-a1dd-197027e834d7</DEPLOY_ID>')).toBe(
      true,
    );
  });

  it('lists each VN_MAD once, NIC before NIC_ALIAS before PCI, and leaves out elements without one', () => {
    const vm =
      '<VM><ID>3</ID><TEMPLATE>' +
      '<PCI><VN_MAD>sriov</VN_MAD></PCI><NIC_ALIAS><VN_MAD>ovswitch</VN_MAD></NIC_ALIAS>' +
      '<NIC><VN_MAD>bridge</VN_MAD></NIC><NIC><VN_MAD></VN_MAD></NIC><NIC><VN_MAD>bridge</VN_MAD></NIC>' +
      '</TEMPLATE></VM>';

    const { drivers, xml } = buildVnmMessage(vm);

    expect(drivers).toEqual(['bridge', 'ovswitch', 'sriov']);
    expect(xml).toBe(
      '<VM><ID>3</ID><TEMPLATE><NIC><VN_MAD>bridge</VN_MAD></NIC></TEMPLATE>' +
        '<TEMPLATE><NIC><VN_MAD>bridge</VN_MAD></NIC></TEMPLATE>' +
        '<TEMPLATE><NIC_ALIAS><VN_MAD>ovswitch</VN_MAD></NIC_ALIAS></TEMPLATE>' +
        '<TEMPLATE><PCI><VN_MAD>sriov</VN_MAD></PCI></TEMPLATE></VM>',
    );
  });
});
