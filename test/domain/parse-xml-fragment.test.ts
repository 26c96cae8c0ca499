import { describe, expect, it } from 'vitest';
import { parseXmlFragment } from '../../src/domain/parse-xml-fragment.js';
import { element, serializeXml } from '../../src/domain/xml.js';

describe('parseXmlFragment', () => {
  it('parses sibling elements, decoding entities and CDATA, dropping blank text', () => {
    const result = parseXmlFragment(
      `<devices>\n  <serial type="pty"><target port='0'/></serial>\n</devices>\n<qemu:commandline><qemu:arg value='-a &amp; b'/></qemu:commandline><x>a &lt; b<![CDATA[ ]]>c]]></x>`,
    );
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(serializeXml(element('domain', null, result.children))).toBe(
      [
        '<domain>',
        '\t<devices>',
        "\t\t<serial type='pty'>",
        "\t\t\t<target port='0'/>",
        '\t\t</serial>',
        '\t</devices>',
        '\t<qemu:commandline>',
        "\t\t<qemu:arg value='-a &amp; b'/>",
        '\t</qemu:commandline>',
        '\t<x>a &lt; b c]]&gt;</x>',
        '</domain>',
        '',
      ].join('\n'),
    );
  });

  it('reports malformed XML with line and column', () => {
    expect(parseXmlFragment('<a>\n<b x="1></b></a>')).toEqual({
      ok: false,
      reason: expect.stringMatching(/^not well-formed XML at line 2, column \d+: /) as unknown,
    });
    expect(parseXmlFragment('<a><b></a>').ok).toBe(false);
  });

  it('refuses DOCTYPE and entity declarations', () => {
    expect(parseXmlFragment('<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>')).toEqual({
      ok: false,
      reason: 'DOCTYPE and ENTITY declarations are not allowed',
    });
  });

  it('accepts an empty fragment', () => {
    expect(parseXmlFragment('  ')).toEqual({ ok: true, children: [] });
  });
});
