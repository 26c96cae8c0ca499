import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { getSingle, getVector, getVectors, isVector, type Template } from '../../src/template/model.js';
import { parseVmXml } from '../../src/template/parse-vm-xml.js';
import { ParseError } from '../../src/util/errors.js';

const fixture = (name: string): string =>
  readFileSync(new URL(`../fixtures/vm-xml/${name}`, import.meta.url), 'utf8');

const parse = (xml: string) => parseVmXml(xml, { file: 'vm.xml' });

// A minimal VM document around the given TEMPLATE children.
const vmWith = (templateBody: string, rest = ''): string =>
  `<VM><ID>1</ID><NAME>t</NAME><TEMPLATE>${templateBody}</TEMPLATE>${rest}</VM>`;

const templateOf = (templateBody: string): Template => parse(vmWith(templateBody)).template;

function parseError(xml: string): ParseError {
  try {
    parse(xml);
  } catch (error) {
    expect(error).toBeInstanceOf(ParseError);
    return error as ParseError;
  }
  throw new Error(`no ParseError for ${xml}`);
}

// Plain [name, value | entries] pairs, so vectors compare independently of their prototype.
const plain = (template: Template) =>
  template.attributes.map((a) => [a.name, isVector(a) ? Object.entries(a.value) : a.value]);

describe('parseVmXml on `onevm show -x` output (vm-42.xml)', () => {
  const vm = parse(fixture('vm-42.xml'));

  it('reads the identity fields', () => {
    expect(vm).toMatchObject({
      id: 42,
      name: 'web-42',
      uid: '5',
      gid: '100',
      uname: 'alice',
      gname: 'web-team',
      stime: '1718801077',
      deployId: 'one-42',
      lcmState: 3,
    });
  });

  it('keeps TEMPLATE attributes in document order, repeated DISKs included', () => {
    expect(vm.template.attributes.map((a) => a.name)).toEqual([
      'AUTOMATIC_DS_REQUIREMENTS',
      'AUTOMATIC_NIC_REQUIREMENTS',
      'AUTOMATIC_REQUIREMENTS',
      'CONTEXT',
      'CPU',
      'DISK',
      'DISK',
      'GRAPHICS',
      'MEMORY',
      'NIC',
      'OS',
      'SECURITY_GROUP_RULE',
      'SECURITY_GROUP_RULE',
      'TEMPLATE_ID',
      'TM_MAD_SYSTEM',
      'VCPU',
      'VMID',
    ]);
    expect(getVectors(vm.template, 'DISK').map((disk) => disk['TARGET'])).toEqual(['vda', 'vdb']);
    expect(getVectors(vm.template, 'SECURITY_GROUP_RULE').map((rule) => rule['RULE_TYPE'])).toEqual([
      'OUTBOUND',
      'INBOUND',
    ]);
  });

  it('reads single attributes from CDATA', () => {
    expect(getSingle(vm.template, 'CPU')).toBe('0.5');
    expect(getSingle(vm.template, 'MEMORY')).toBe('1024');
    expect(getSingle(vm.template, 'VCPU')).toBe('2');
    expect(getSingle(vm.template, 'TEMPLATE_ID')).toBe('3');
    expect(getSingle(vm.template, 'VMID')).toBe('42');
    expect(getSingle(vm.template, 'AUTOMATIC_REQUIREMENTS')).toBe(
      '(CLUSTER_ID = 0) & !(PUBLIC_CLOUD = YES) & !(PIN_POLICY = PINNED)',
    );
  });

  it('reads each DISK vector completely', () => {
    const [first, second] = getVectors(vm.template, 'DISK');
    expect(first).toMatchObject({
      CLONE: 'YES',
      DATASTORE: 'default',
      DATASTORE_ID: '1',
      DISK_ID: '0',
      DRIVER: 'qcow2',
      IMAGE: 'Debian 12',
      SOURCE: '/var/lib/one//datastores/1/6d5d1a6f1e3b9c0a24f1c8e2b7a90d13',
      TARGET: 'vda',
      TYPE: 'FILE',
    });
    expect(Object.keys(first ?? {})).toHaveLength(25);
    expect(second).toMatchObject({
      CACHE: 'none',
      CLONE: 'NO',
      DISK_ID: '1',
      DRIVER: 'raw',
      IO: 'native',
      PERSISTENT: 'YES',
      SOURCE: '/var/lib/one//datastores/1/0b7c2e94d1f5a8e36c0d4b2a19f7e5c8',
      TARGET: 'vdb',
    });
  });

  it('reads NIC, GRAPHICS and OS vectors', () => {
    expect(getVector(vm.template, 'NIC')).toMatchObject({
      BRIDGE: 'br0',
      IP: '192.168.150.42',
      MAC: '02:00:c0:a8:96:2a',
      MODEL: 'virtio',
      NETWORK: 'public',
      TARGET: 'one-42-0',
      VN_MAD: 'bridge',
    });
    expect({ ...getVector(vm.template, 'GRAPHICS') }).toEqual({
      LISTEN: '0.0.0.0',
      PORT: '5942',
      TYPE: 'VNC',
    });
    expect(getVector(vm.template, 'OS')?.['UUID']).toBe('0b3f8c1e-6a2d-4d47-9f5e-2c8a71d0e942');
  });

  it('keeps CONTEXT values exactly: newlines, tabs, <, & and empty CDATA', () => {
    const context = getVector(vm.template, 'CONTEXT');
    expect(context?.['START_SCRIPT']).toBe('#!/bin/sh\necho "<ready> & $(hostname)" > /etc/motd\n\texit 0\n');
    expect(context?.['SSH_PUBLIC_KEY']).toBe('');
    expect(context?.['DISK_ID']).toBe('2');
  });

  it('reads USER_TEMPLATE, unicode and vectors included', () => {
    expect(vm.userTemplate.attributes.map((a) => a.name)).toEqual([
      'DESCRIPTION',
      'HYPERVISOR',
      'INFO',
      'LABELS',
      'LOGO',
      'SCHED_REQUIREMENTS',
    ]);
    expect(getSingle(vm.userTemplate, 'DESCRIPTION')).toBe('Front end for «shop» — owned by Ålice & co.');
    expect({ ...getVector(vm.userTemplate, 'INFO') }).toEqual({ OWNER: 'alice', TICKET: 'OPS-1187' });
  });

  it('takes the last HISTORY record', () => {
    expect(vm.history).toEqual({
      seq: 1,
      hostname: 'node2',
      hid: 2,
      dsId: 100,
      dsLocation: undefined,
      vmMad: 'kvm',
      tmMad: 'shared',
    });
  });

  it('does not mix MONITORING, PERMISSIONS or HISTORY into the templates', () => {
    expect(getSingle(vm.template, 'ID')).toBeUndefined();
    expect(getSingle(vm.template, 'OWNER_U')).toBeUndefined();
    expect(getSingle(vm.userTemplate, 'SEQ')).toBeUndefined();
  });
});

describe('parseVmXml on a 4.14 document (vm-7-one-4.14.xml)', () => {
  const vm = parse(fixture('vm-7-one-4.14.xml'));

  it('reads VMMMAD/TMMAD and DS_LOCATION without its trailing slash', () => {
    expect(vm.history).toEqual({
      seq: 0,
      hostname: 'kvm-a',
      hid: 0,
      dsId: 0,
      dsLocation: '/var/lib/one/datastores',
      vmMad: 'kvm',
      tmMad: 'shared',
    });
  });

  it('reads an empty USER_TEMPLATE and the compact TEMPLATE', () => {
    expect(vm.userTemplate.attributes).toEqual([]);
    expect(getVectors(vm.template, 'DISK')).toHaveLength(1);
    expect(getVector(vm.template, 'NIC')?.['IP']).toBe('10.0.0.7');
  });
});

describe('parseVmXml values', () => {
  it('joins CDATA sections split around "]]>"', () => {
    expect(getSingle(templateOf('<A><![CDATA[x]]]]><![CDATA[>y]]></A>'), 'A')).toBe('x]]>y');
    expect(getSingle(templateOf('<A><![CDATA[]]]]><![CDATA[>]]></A>'), 'A')).toBe(']]>');
  });

  it('keeps <, &, entities, whitespace and unicode inside CDATA literally', () => {
    const value = '  <b>&amp; "q" \'s\'\n\tline 2 😀 ü 中文  ';
    expect(getSingle(templateOf(`<A><![CDATA[${value}]]></A>`), 'A')).toBe(value);
  });

  it('decodes entity-escaped text and character references once', () => {
    const template = templateOf(
      '<A>a &lt;b&gt; &amp; &quot;c&quot; &apos;d&apos;</A><B>&#60;&#x3C;&#x1F600;&#233;</B><C>&amp;lt;</C>',
    );
    expect(getSingle(template, 'A')).toBe('a <b> & "c" \'d\'');
    expect(getSingle(template, 'B')).toBe('<<😀é');
    expect(getSingle(template, 'C')).toBe('&lt;');
  });

  it('concatenates text and CDATA of one element, comments dropped', () => {
    expect(getSingle(templateOf('<A>a&amp;<![CDATA[&b]]>c<!-- note -->d</A>'), 'A')).toBe('a&&bcd');
  });

  it('reads line ends as XML does: CR LF becomes LF, &#13; stays CR', () => {
    const template = templateOf('<A><![CDATA[x\r\ny\rz]]></A><B>1&#13;&#10;2</B>');
    expect(getSingle(template, 'A')).toBe('x\ny\nz');
    expect(getSingle(template, 'B')).toBe('1\r\n2');
  });

  it('reads empty elements as empty strings', () => {
    const template = templateOf('<A/><B></B><C><![CDATA[]]></C><V><K/><L></L><M>m</M></V>');
    expect(plain(template)).toEqual([
      ['A', ''],
      ['B', ''],
      ['C', ''],
      [
        'V',
        [
          ['K', ''],
          ['L', ''],
          ['M', 'm'],
        ],
      ],
    ]);
  });

  it('keeps surrounding whitespace of a single value but ignores indentation between elements', () => {
    const template = templateOf('\n  <A>  spaced  </A>\n  <V>\n    <K>k</K>\n  </V>\n');
    expect(plain(template)).toEqual([
      ['A', '  spaced  '],
      ['V', [['K', 'k']]],
    ]);
  });

  it('upper-cases names (ASCII only, as C toupper)', () => {
    const template = templateOf(
      '<disk><target>vda</target><Driver>raw</Driver></disk><cpu>1</cpu><ünit>x</ünit>',
    );
    expect(plain(template)).toEqual([
      [
        'DISK',
        [
          ['TARGET', 'vda'],
          ['DRIVER', 'raw'],
        ],
      ],
      ['CPU', '1'],
      ['üNIT', 'x'],
    ]);
  });

  it('keeps the first value of a repeated vector key', () => {
    expect({ ...getVector(templateOf('<V><K>1</K><K>2</K><k>3</k></V>'), 'V') }).toEqual({ K: '1' });
  });

  it('drops elements nested below a vector value, as oned does', () => {
    const template = templateOf('<V><A>1</A><DEEP><X>2</X></DEEP><B>3</B></V><W><ONLY><X>1</X></ONLY></W>');
    expect(plain(template)).toEqual([
      [
        'V',
        [
          ['A', '1'],
          ['B', '3'],
        ],
      ],
      ['W', []],
    ]);
  });

  it('treats JavaScript property names as plain data', () => {
    const template = templateOf(
      '<toString>1</toString><V><valueOf>2</valueOf><hasOwnProperty>3</hasOwnProperty></V>',
    );
    expect(getSingle(template, 'TOSTRING')).toBe('1');
    expect({ ...getVector(template, 'V') }).toEqual({ VALUEOF: '2', HASOWNPROPERTY: '3' });
  });
});

describe('parseVmXml optional parts', () => {
  it('reads missing or empty optional fields as undefined', () => {
    const vm = parse('<VM><ID>3</ID><TEMPLATE/><DEPLOY_ID/><LCM_STATE></LCM_STATE><HISTORY_RECORDS/></VM>');
    expect(vm).toEqual({
      id: 3,
      name: '',
      uid: undefined,
      gid: undefined,
      uname: undefined,
      gname: undefined,
      stime: undefined,
      deployId: undefined,
      lcmState: undefined,
      template: { attributes: [] },
      userTemplate: { attributes: [] },
      history: undefined,
    });
  });

  it('strips every trailing slash of DS_LOCATION but keeps a bare "/"', () => {
    const history = (location: string) =>
      parse(
        vmWith(
          '',
          `<HISTORY_RECORDS><HISTORY><SEQ>0</SEQ><HOSTNAME>h</HOSTNAME><DS_ID>0</DS_ID><DS_LOCATION>${location}</DS_LOCATION></HISTORY></HISTORY_RECORDS>`,
        ),
      ).history;
    expect(history('/var/lib/one//datastores//')?.dsLocation).toBe('/var/lib/one//datastores');
    expect(history('/')?.dsLocation).toBe('/');
    expect(history('')?.dsLocation).toBeUndefined();
  });

  it('accepts leading blank lines before <VM>', () => {
    expect(parse(`\n\n  ${vmWith('')}`).id).toBe(1);
  });

  it('accepts HID -1 after a BOM and an XML declaration', () => {
    const vm = parse(
      '\uFEFF<?xml version="1.0" encoding="UTF-8"?>\n' +
        vmWith(
          '',
          '<HISTORY_RECORDS><HISTORY><SEQ>2</SEQ><HOSTNAME>h</HOSTNAME><HID>-1</HID><DS_ID>0</DS_ID></HISTORY></HISTORY_RECORDS>',
        ),
    );
    expect(vm.history).toMatchObject({ seq: 2, hid: -1, dsId: 0, vmMad: undefined, tmMad: undefined });
  });
});

describe('parseVmXml errors', () => {
  it('names a missing ID or TEMPLATE with the position of <VM>', () => {
    const noId = parseError('<?xml version="1.0"?>\n  <VM><NAME>x</NAME><TEMPLATE/></VM>');
    expect(noId.reason).toBe('<VM> has no <ID> element');
    expect(noId.position).toEqual({ file: 'vm.xml', line: 2, column: 3 });
    expect(parseError('<VM><ID>1</ID></VM>').reason).toBe('<VM> has no <TEMPLATE> element');
  });

  it('names a missing HISTORY field', () => {
    const error = parseError(
      vmWith('', '<HISTORY_RECORDS><HISTORY><SEQ>0</SEQ></HISTORY></HISTORY_RECORDS>'),
    );
    expect(error.reason).toBe('<HISTORY> has no <HOSTNAME> element');
  });

  it.each(['-1', 'abc', '1.5', '', '0x10', '99999999999999999999'])('refuses ID %j', (id) => {
    const error = parseError(`<VM>\n<ID>${id}</ID><TEMPLATE/></VM>`);
    expect(error.reason).toMatch(/^<ID> must be a non-negative integer/);
    expect(error.position).toEqual({ file: 'vm.xml', line: 2, column: 1 });
  });

  it('names the root element when it is not VM', () => {
    expect(parseError('<VM_POOL><VM><ID>1</ID><TEMPLATE/></VM></VM_POOL>').reason).toBe(
      'expected root element <VM>, found <VM_POOL>',
    );
  });

  it('reports malformed XML with line and column', () => {
    const error = parseError('<VM>\n  <ID>1</ID>\n  <NAME>x</NAM>\n  <TEMPLATE/>\n</VM>');
    expect(error.code).toBe('PARSE');
    expect(error.position.line).toBe(3);
    expect(error.position.column).toBe(10);
    expect(error.message).toMatch(/^vm\.xml:3:10: /);
  });

  it.each([
    ['unclosed root', '<VM><ID>1</ID><TEMPLATE/>'],
    ['text after the root', '<VM><ID>1</ID><TEMPLATE/></VM>junk'],
    ['a second root', '<VM><ID>1</ID><TEMPLATE/></VM>\n<VM/>'],
    ['no element at all', '   '],
    ['not XML', 'ID=1'],
    ['an XML declaration after blank lines', `\n<?xml version="1.0"?>${vmWith('')}`],
    ['a bare ampersand', vmWith('<A>a & b</A>')],
    ['an undeclared entity', vmWith('<A>&nbsp;</A>')],
    ['a reference to an illegal character', vmWith('<A>&#1;</A>')],
    ['a reference to a surrogate', vmWith('<A>&#xD800;</A>')],
    ['a reference beyond U+10FFFF', vmWith('<A>&#x110000;</A>')],
    ['an illegal control character', vmWith('<A>\u0001</A>')],
    ['"]]>" in text', vmWith('<A>a]]>b</A>')],
  ])('refuses %s', (_what, xml) => {
    expect(parseError(xml).position.line).toBeGreaterThan(0);
  });

  it('keeps JavaScript property names as plain data', () => {
    const vm = parseVmXml(vmWith('<__proto__>1</__proto__><DISK><constructor>x</constructor></DISK>'), {
      file: 'vm.xml',
    });
    expect(vm.template.attributes.find((a) => a.name === '__PROTO__')?.value).toBe('1');
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('points at the offending character', () => {
    expect(parseError(vmWith('<A>&nbsp;</A>')).message).toBe('vm.xml:1:42: unknown entity &nbsp;');
    expect(parseError(`<VM>\n<A>x\u0007</A></VM>`).message).toBe(
      'vm.xml:2:5: character U+0007 is not allowed in XML',
    );
  });

  it('refuses DOCTYPE and ENTITY declarations without expanding them', () => {
    const laughs =
      '<?xml version="1.0"?>\n<!DOCTYPE VM [\n <!ENTITY a "aaaaaaaaaa">\n <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">\n' +
      ' <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">\n]>\n<VM><ID>1</ID><TEMPLATE><A>&c;</A></TEMPLATE></VM>';
    const error = parseError(laughs);
    expect(error.reason).toBe('DOCTYPE and entity declarations are not accepted');
    expect(error.position).toEqual({ file: 'vm.xml', line: 2, column: 1 });
    expect(
      parseError('<!DOCTYPE VM SYSTEM "file:///etc/passwd"><VM><ID>1</ID><TEMPLATE/></VM>').reason,
    ).toMatch(/DOCTYPE/);
    expect(parseError(vmWith('<!ENTITY x "y">')).reason).toMatch(/DOCTYPE/);
  });

  it('does not mistake markup-like text inside CDATA or comments for declarations', () => {
    const template = templateOf('<!-- <!DOCTYPE x> --><A><![CDATA[<!DOCTYPE x> &nbsp; ]]></A>');
    expect(getSingle(template, 'A')).toBe('<!DOCTYPE x> &nbsp; ');
  });
});

// ---------------------------------------------------------------------------------------------------------
// Property: any XML-legal value survives being written into a VM document and parsed back.

const xmlCharacter = fc.oneof(
  fc.constantFrom(
    '\t',
    '\n',
    '\r',
    '\r\n',
    ' ',
    ']',
    ']]>',
    ']]',
    '<',
    '>',
    '&',
    '&amp;',
    '"',
    "'",
    '<![CDATA[',
  ),
  fc.integer({ min: 0x20, max: 0xd7ff }).map((code) => String.fromCodePoint(code)),
  fc.integer({ min: 0xe000, max: 0xfffd }).map((code) => String.fromCodePoint(code)),
  fc.integer({ min: 0x10000, max: 0x10ffff }).map((code) => String.fromCodePoint(code)),
);
const xmlString = fc.array(xmlCharacter, { maxLength: 30 }).map((parts) => parts.join(''));
const attributeName = fc.stringMatching(/^[A-Z_][A-Z0-9_]{0,8}$/);

type Written = { name: string; value: string } | { name: string; entries: [string, string][] };

const writtenAttribute: fc.Arbitrary<Written> = fc.oneof(
  fc.record({ name: attributeName, value: xmlString }),
  fc.record({
    name: attributeName,
    entries: fc.uniqueArray(fc.tuple(attributeName, xmlString), {
      minLength: 1,
      maxLength: 5,
      selector: ([k]) => k,
    }),
  }),
);

// CDATA cannot hold "]]>" (split it across sections) nor a CR (read as LF), which goes as &#13; between them.
const asCdata = (value: string): string =>
  value
    .split('\r')
    .map((part) => `<![CDATA[${part.replaceAll(']]>', ']]]]><![CDATA[>')}]]>`)
    .join('&#13;');
const asText = (value: string): string =>
  value.replace(
    /[&<>\r]/g,
    (char) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '\r': '&#13;' })[char] ?? char,
  );

function writeVm(attributes: readonly Written[], useCdata: boolean): string {
  const encode = useCdata ? asCdata : asText;
  const body = attributes.map((attribute) =>
    'value' in attribute
      ? `  <${attribute.name}>${encode(attribute.value)}</${attribute.name}>`
      : `  <${attribute.name}>\n${attribute.entries.map(([k, v]) => `    <${k}>${encode(v)}</${k}>`).join('\n')}\n  </${attribute.name}>`,
  );
  return `<VM>\n  <ID>7</ID>\n  <TEMPLATE>\n${body.join('\n')}\n  </TEMPLATE>\n</VM>\n`;
}

describe('parseVmXml round trip (property)', () => {
  it('reads back every written template value exactly', () => {
    fc.assert(
      fc.property(fc.array(writtenAttribute, { maxLength: 8 }), fc.boolean(), (attributes, useCdata) => {
        const vm = parse(writeVm(attributes, useCdata));
        expect(plain(vm.template)).toEqual(
          attributes.map((a) => ('value' in a ? [a.name, a.value] : [a.name, a.entries])),
        );
      }),
      { numRuns: 300 },
    );
  });
});
