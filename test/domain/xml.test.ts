import fc from 'fast-check';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import {
  element,
  findInvalidXmlChar,
  serializeXml,
  textElement,
  XmlCharacterError,
} from '../../src/domain/xml.js';

describe('serializeXml', () => {
  it('writes one element per line, tab-indented, empty elements self-closed', () => {
    const tree = element('domain', { type: 'kvm' }, [
      element('name', null, ['one-1']),
      element('devices', null, [element('disk', { type: 'file', device: 'disk' }, [element('readonly')])]),
    ]);
    expect(serializeXml(tree)).toBe(
      [
        "<domain type='kvm'>",
        '\t<name>one-1</name>',
        '\t<devices>',
        "\t\t<disk type='file' device='disk'>",
        '\t\t\t<readonly/>',
        '\t\t</disk>',
        '\t</devices>',
        '</domain>',
        '',
      ].join('\n'),
    );
  });

  it('keeps attribute order and drops undefined attributes and children', () => {
    const tree = element('driver', { name: 'qemu', type: 'raw', io: undefined, cache: 'none' }, [
      undefined,
      false,
      textElement('x', undefined),
    ]);
    expect(serializeXml(tree)).toBe("<driver name='qemu' type='raw' cache='none'/>\n");
  });

  it('escapes markup in text and attributes', () => {
    const tree = element('a', { v: `'"<&>]]>` }, [`<b> & ]]> "'`]);
    expect(serializeXml(tree)).toBe(`<a v='&apos;"&lt;&amp;&gt;]]&gt;'>&lt;b&gt; &amp; ]]&gt; "'</a>\n`);
  });

  it('writes tabs, newlines and carriage returns in attributes as character references', () => {
    expect(serializeXml(element('a', { v: 'x\ty\nz\r' }))).toBe("<a v='x&#9;y&#10;z&#13;'/>\n");
    expect(serializeXml(element('a', null, ['x\r\ny']))).toBe('<a>x&#13;\ny</a>\n');
  });

  it('rejects characters XML 1.0 cannot carry, naming where they would go', () => {
    const tree = element('domain', null, [element('devices', null, [element('disk', { file: 'a\u0001b' })])]);
    expect(() => serializeXml(tree)).toThrow(XmlCharacterError);
    expect(() => serializeXml(tree)).toThrow(
      '/domain/devices/disk/@file: character U+0001 at offset 1 cannot be written in XML',
    );
    expect(() => serializeXml(element('t', null, ['\uFFFE']))).toThrow('/t/text(): character U+FFFE');
    expect(() => serializeXml(element('t', null, ['a\uD800']))).toThrow('U+D800');
  });

  it('accepts astral characters (surrogate pairs) and all of XML’s whitespace', () => {
    expect(serializeXml(element('t', { v: '😀' }, ['😀\t\n']))).toBe("<t v='😀'>😀\t\n</t>\n");
  });

  it('rejects element and attribute names that are not XML names', () => {
    expect(() => serializeXml(element('a b'))).toThrow("'a b' is not an XML name");
    expect(() => serializeXml(element('a', { 'x=1': 'y' }))).toThrow("'x=1' is not an XML name");
  });

  it('round-trips any XML-legal string exactly through a real parser', () => {
    const parser = new XMLParser({
      ignoreAttributes: false,
      attributeNamePrefix: '@',
      processEntities: true,
      htmlEntities: true,
      trimValues: false,
      parseTagValue: false,
      parseAttributeValue: false,
    });
    fc.assert(
      fc.property(fc.string({ unit: 'binary', minLength: 1 }), (value) => {
        fc.pre(findInvalidXmlChar(value) === undefined && value.trim() !== '' && !value.includes('\r'));
        const xml = serializeXml(element('root', { v: value }, [element('t', null, [value])]));
        expect(XMLValidator.validate(xml)).toBe(true);
        const parsed = parser.parse(xml) as { root: { '@v': string; t: string } };
        expect(parsed.root.t).toBe(value);
      }),
      { numRuns: 300 },
    );
  });
});

describe('findInvalidXmlChar', () => {
  it('describes the first bad character', () => {
    expect(findInvalidXmlChar('ok\u0000')).toBe('U+0000 at offset 2');
    expect(findInvalidXmlChar('tab\tnewline\n')).toBeUndefined();
  });
});
