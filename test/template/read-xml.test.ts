import { describe, expect, it } from 'vitest';
import { readXmlRoot } from '../../src/template/read-xml.js';
import { ParseError } from '../../src/util/errors.js';

function failure(xml: string): string {
  try {
    readXmlRoot(xml, 'doc.xml');
  } catch (error) {
    expect(error).toBeInstanceOf(ParseError);
    return (error as ParseError).message;
  }
  throw new Error('expected a ParseError');
}

describe('readXmlRoot', () => {
  it('reads elements, text, CDATA and positions; attributes are dropped', () => {
    const root = readXmlRoot(
      `<?xml version="1.0"?>\n<!-- c -->\n<A x='1' y="2">\n <B>t&amp;<![CDATA[<c>]]></B><C/></A>\n`,
      'doc.xml',
    );
    expect(root.name).toBe('A');
    expect([root.line, root.column]).toEqual([3, 1]);
    expect(root.children.map((child) => [child.name, child.text, child.line, child.column])).toEqual([
      ['B', 't&<c>', 4, 2],
      ['C', '', 4, 30],
    ]);
  });

  it('decodes character references and reads CR LF as LF', () => {
    expect(readXmlRoot('<A>&#65;&#x42;&lt;\r\n&#13;</A>', 'doc.xml').text).toBe('AB<\n\r');
  });

  it.each([
    ['<A><B></A>', 'doc.xml:1:7: expected </B> (opened at line 1), found </A>'],
    ['<A>', 'doc.xml:1:1: <A> is never closed'],
    ['<A></A><B/>', 'doc.xml:1:8: second root element <B> after <A>'],
    ['<A></A>x', 'doc.xml:1:8: text after the root element <A>'],
    ['', 'doc.xml:1:1: document has no root element'],
    ['<A x=1/>', 'doc.xml:1:6: expected a quoted attribute value in <A>'],
    ['<A x="<"/>', "doc.xml:1:7: '<' is not allowed in an attribute value"],
    ['<A>&bogus;</A>', 'doc.xml:1:4: unknown entity &bogus;'],
    ['<A>&#0;</A>', 'doc.xml:1:4: &#0; is not an XML character'],
    ['<A>]]></A>', "doc.xml:1:4: ']]>' is not allowed in text"],
    ['<!DOCTYPE A><A/>', 'doc.xml:1:1: DOCTYPE and entity declarations are not accepted'],
    ['<A><!-- x</A>', 'doc.xml:1:4: unterminated comment'],
    ['<A>\u0002</A>', 'doc.xml:1:4: character U+0002 is not allowed in XML'],
    ['<1/>', "doc.xml:1:2: expected a name, found '1/>'"],
  ])('refuses %j', (xml, message) => {
    expect(failure(xml)).toBe(message);
  });

  it('refuses absurd nesting instead of overflowing the stack', () => {
    expect(failure('<A>'.repeat(100) + '</A>'.repeat(100))).toMatch(/nested deeper than 64 levels/);
  });
});
