import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Attribute, Template } from '../../src/template/model.js';
import { getSingle, getVector, isVector, toReplaceMode } from '../../src/template/model.js';
import { parseTemplate } from '../../src/template/parse-template.js';
import { ParseError } from '../../src/util/errors.js';

const FILE = 'defaults.conf';

function parse(text: string): Attribute[] {
  return [...parseTemplate(text, { file: FILE }).attributes];
}

function parseError(text: string): ParseError {
  try {
    parseTemplate(text, { file: FILE });
  } catch (error) {
    expect(error).toBeInstanceOf(ParseError);
    return error as ParseError;
  }
  throw new Error(`expected a parse error for ${JSON.stringify(text)}`);
}

// Plain objects for expectations: the parser's vectors have no prototype, which toEqual ignores.
function vector(name: string, value: Record<string, string>): Attribute {
  return { name, value };
}

describe('parseTemplate: names and values', () => {
  it('upper-cases attribute names and vector keys, and keeps the case of values', () => {
    expect(parse('memory = Abc\nos = [ arch = X86_64, Machine = "Q35" ]\n')).toEqual([
      { name: 'MEMORY', value: 'Abc' },
      vector('OS', { ARCH: 'X86_64', MACHINE: 'Q35' }),
    ]);
  });

  it('accepts names made of letters, digits and underscores', () => {
    expect(parse('_a1 = x\n9 = y\n')).toEqual([
      { name: '_A1', value: 'x' },
      { name: '9', value: 'y' },
    ]);
  });

  it('reads unquoted values up to a blank, newline, comma, bracket, = or #', () => {
    expect(parse('EMULATOR = /usr/libexec/qemu-kvm\nMEM=345\nBR = br0#comment\n')).toEqual([
      { name: 'EMULATOR', value: '/usr/libexec/qemu-kvm' },
      { name: 'MEM', value: '345' },
      { name: 'BR', value: 'br0' },
    ]);
    expect(parse('V = [ A = x,B = y]')).toEqual([vector('V', { A: 'x', B: 'y' })]);
  });

  it('keeps a double quote inside an unquoted value literally, as oned does', () => {
    expect(parse('A = ab"c\n')).toEqual([{ name: 'A', value: 'ab"c' }]);
  });

  it('reads quoted values with blanks, = , [ ] # and several lines', () => {
    expect(parse('A = "x = [1, 2] # not a comment"\nB = "line 1\nline 2"\n')).toEqual([
      { name: 'A', value: 'x = [1, 2] # not a comment' },
      { name: 'B', value: 'line 1\nline 2' },
    ]);
  });

  it('turns \\" into " and keeps every other backslash', () => {
    expect(parse(String.raw`A = "say \"hi\" C:\dir\n \t"`)).toEqual([
      { name: 'A', value: String.raw`say "hi" C:\dir\n \t` },
    ]);
    // oned replaces each \" pair, so \\" becomes \" (the first backslash stays).
    expect(parse(String.raw`A = "a\\"b"`)).toEqual([{ name: 'A', value: String.raw`a\"b` }]);
  });

  it('takes the longest match like oned: "abc"def is one unquoted value, quotes included', () => {
    expect(parse('A = "abc"def\n')).toEqual([{ name: 'A', value: '"abc"def' }]);
    // With a blank inside, the quoted form is longer and the next attribute may follow at once.
    expect(parse('A = "a b"C = 1')).toEqual([
      { name: 'A', value: 'a b' },
      { name: 'C', value: '1' },
    ]);
  });

  it('reads NAME = followed by a newline, a comment or the end of the file as an empty value', () => {
    expect(parse('A =\nB = \t\nC = # nothing here\nD =')).toEqual([
      { name: 'A', value: '' },
      { name: 'B', value: '' },
      { name: 'C', value: '' },
      { name: 'D', value: '' },
    ]);
    expect(parse('A = ""\n')).toEqual([{ name: 'A', value: '' }]);
  });

  it('accepts blanks around = or none', () => {
    expect(parse('A=1\nB =2\nC= 3\nD \t=\t 4\n')).toEqual([
      { name: 'A', value: '1' },
      { name: 'B', value: '2' },
      { name: 'C', value: '3' },
      { name: 'D', value: '4' },
    ]);
  });

  it('gives an empty template for empty or comment-only text', () => {
    expect(parse('')).toEqual([]);
    expect(parse('\n  \n# only a comment\n\t# another')).toEqual([]);
  });
});

describe('parseTemplate: vectors', () => {
  it('reads a vector on one line', () => {
    expect(parse('DISK = [ DRIVER = raw, CACHE = "none" ]')).toEqual([
      vector('DISK', { DRIVER: 'raw', CACHE: 'none' }),
    ]);
  });

  it('allows newlines after [, around commas and before ]', () => {
    const text = 'OS = [\n  ARCH = "x86_64"\n  ,\n  MACHINE = "q35",\n  BOOT = disk0\n\n]\n';
    expect(parse(text)).toEqual([vector('OS', { ARCH: 'x86_64', MACHINE: 'q35', BOOT: 'disk0' })]);
  });

  it('allows comments between elements and before ]', () => {
    const text =
      'NIC = [ # models\n  MODEL = "virtio", # the usual\n# FILTER = "x",\n  QUEUES = auto\n  # end\n]';
    expect(parse(text)).toEqual([vector('NIC', { MODEL: 'virtio', QUEUES: 'auto' })]);
  });

  it('reads empty vectors', () => {
    expect(parse('A = [ ]\nB = []\nC = [\n]\n')).toEqual([vector('A', {}), vector('B', {}), vector('C', {})]);
  });

  it('reads K = "" as an empty vector value', () => {
    expect(parse('G = [ PASSWD = "", KEYMAP = "" ]')).toEqual([vector('G', { PASSWD: '', KEYMAP: '' })]);
  });

  it('keeps the first value of a key repeated inside one vector', () => {
    expect(parse('V = [ A = first, b = x, a = second ]')).toEqual([vector('V', { A: 'first', B: 'x' })]);
  });

  it('keeps keys such as __proto__ and constructor as plain data', () => {
    const [attribute] = parse('V = [ __proto__ = x, constructor = y ]');
    expect(attribute?.value).toEqual({ __PROTO__: 'x', CONSTRUCTOR: 'y' });
  });
});

describe('parseTemplate: repeats, comments and layout', () => {
  it('keeps repeated top-level attributes in source order', () => {
    const text = 'DISK = [ ID = 0 ]\nCPU = 1\nDISK = [ ID = 1 ]\nCPU = 2\n';
    const template = parseTemplate(text, { file: FILE });
    expect(template.attributes.map((attribute) => attribute.name)).toEqual(['DISK', 'CPU', 'DISK', 'CPU']);
    // The defaults file is read in oned's replace mode: the last one wins.
    expect(toReplaceMode(template).attributes).toEqual([
      vector('DISK', { ID: '1' }),
      { name: 'CPU', value: '2' },
    ]);
  });

  it('skips comments on their own line, indented, after a value and at the end without a newline', () => {
    expect(parse('# head\n  # indented\nA = 1 # after\nB = "2"# glued\n# last')).toEqual([
      { name: 'A', value: '1' },
      { name: 'B', value: '2' },
    ]);
  });

  it('reads several attributes on one line with no separator, as oned does', () => {
    expect(parse('A = 1 B = "two" C = [ X = 3 ] D=4')).toEqual([
      { name: 'A', value: '1' },
      { name: 'B', value: 'two' },
      vector('C', { X: '3' }),
      { name: 'D', value: '4' },
    ]);
  });

  it('takes tabs as blanks', () => {
    expect(parse('\tA\t=\t1\nV\t=\t[\tK\t=\tv\t,\tL\t=\tw\t]\n')).toEqual([
      { name: 'A', value: '1' },
      vector('V', { K: 'v', L: 'w' }),
    ]);
  });

  it('reads CRLF files like LF ones, and keeps a CR inside a quoted value', () => {
    expect(parse('A = 1\r\nB =\r\nV = [\r\n  K = v,\r\n  L = "w"\r\n]\r\nQ = "x\r\ny"\r\n')).toEqual([
      { name: 'A', value: '1' },
      { name: 'B', value: '' },
      vector('V', { K: 'v', L: 'w' }),
      { name: 'Q', value: 'x\r\ny' },
    ]);
  });

  it('allows a newline between a name and its =, as oned does', () => {
    expect(parse('A\n= 1\nV = [ K\n= v ]')).toEqual([{ name: 'A', value: '1' }, vector('V', { K: 'v' })]);
  });

  it('ignores a byte-order mark and does not count it as a column', () => {
    expect(parse('\uFEFFA = 1')).toEqual([{ name: 'A', value: '1' }]);
    expect(parseError('\uFEFF= 1').position).toEqual({ file: FILE, line: 1, column: 1 });
  });
});

describe('parseTemplate: a trailing comma in a vector', () => {
  it('is accepted, also with a commented-out last entry after it', () => {
    expect(parse('A = [ B = x, ]')).toEqual([vector('A', { B: 'x' })]);
    expect(
      parse(
        'NIC = [\n    MODEL = "virtio",\n    # VIRTIO_QUEUES = "auto"\n    # FILTER = "clean-traffic"\n]\nB = 1\n',
      ),
    ).toEqual([vector('NIC', { MODEL: 'virtio' }), { name: 'B', value: '1' }]);
  });
});

describe('parseTemplate: errors', () => {
  const cases: [string, string, string][] = [
    // [text, file:line:column, reason]
    [
      '# 1\n# 2\n# 3\n# 4\n# 5\n# 6\nOS = [ A = b = c ]\n',
      '7:14',
      "expected ',' or ']' in vector OS, found '='",
    ],
    ['OS = [ ARCH = x86_64\n  MACHINE = q35 ]', '2:3', "expected ',' or ']' in vector OS, found 'MACHINE'"],
    ['A = [ B = x, , ]', '1:14', "expected a key or ']' in vector A, found ','"],
    ['A = [B=]', '1:8', `expected a value for B in vector A (write B = "" if empty), found ']'`],
    ['A = [ B = , C = 1 ]', '1:11', `expected a value for B in vector A (write B = "" if empty), found ','`],
    [
      'A = [ B =\n  x ]',
      '1:10',
      `expected a value for B in vector A (write B = "" if empty), found end of line`,
    ],
    [
      'A = [ B = # c\n ]',
      '1:11',
      `expected a value for B in vector A (write B = "" if empty), found a comment`,
    ],
    ['A = [ B = [ ] ]', '1:11', `expected a value for B in vector A (write B = "" if empty), found '['`],
    ['A = [ B =', '1:10', `expected a value for B in vector A (write B = "" if empty), found end of file`],
    ['A = [ B = 1', '1:12', "expected ',' or ']' in vector A, found end of file"],
    ['A = [ , ]', '1:7', "expected a key or ']' in vector A, found ','"],
    ['A = [ B ]', '1:9', "expected '=' after B in vector A, found ']'"],
    ['A = ]', '1:5', "expected a value or '[' after A =, found ']'"],
    ['A = , B', '1:5', "expected a value or '[' after A =, found ','"],
    ['A = = 1', '1:5', "expected a value or '[' after A =, found '='"],
    ['A 1', '1:3', "expected '=' after A, found '1'"],
    ['A', '1:2', "expected '=' after A, found end of file"],
    ['A = 1\n  -B = 2', '2:3', "expected an attribute name, found '-'"],
    ['= 1', '1:1', "expected an attribute name, found '='"],
    ['A = 1, B = 2', '1:6', "expected an attribute name, found ','"],
    ['A = "x" "y"', '1:9', `expected an attribute name, found '"'`],
    ['A = x\n[ B = 1 ]', '2:1', "expected an attribute name, found '['"],
    ['A.B = 1', '1:2', "expected '=' after A, found '.'"],
    ['A = 1\nB = "abc\n\n', '2:5', `unterminated quoted value: no closing '"'`],
    ['V = [ K = "abc\\" ]\n', '1:11', `unterminated quoted value: no closing '"'`],
    ['A = "x ]]> y"', '1:5', "a value must not contain ']]>' (oned rejects it)"],
    ['V = [ K = "<![CDATA[x]]>" ]', '1:11', "a value must not contain ']]>' (oned rejects it)"],
    // Columns count code points, and a tab is one column.
    ['A = "é😀" ,', '1:10', "expected an attribute name, found ','"],
    ['\tA\t=\t[\t,', '1:8', "expected a key or ']' in vector A, found ','"],
  ];

  it.each(cases)('%j fails at %s', (text, where, reason) => {
    const error = parseError(text);
    const [line, column] = where.split(':').map(Number);
    expect(error.position).toEqual({ file: FILE, line, column });
    expect(error.reason).toBe(reason);
    expect(error.message).toBe(`${FILE}:${where}: ${reason}`);
    expect(error.code).toBe('PARSE');
  });

  it('shortens a long offending token to its first line', () => {
    const error = parseError(`A = 1 "${'x'.repeat(60)}\nmore"`);
    expect(error.reason).toBe(`expected an attribute name, found '"'`);
    expect(parseError(`A = [ K = v "${'y'.repeat(60)}" ]`).reason).toBe(
      `expected ',' or ']' in vector A, found '"'`,
    );
  });
});

// The worked example of OpenNebula 3.8.5's src/template/test/template.cc (test_ok), and its
// expected to_str output. oned sorts attributes by name and vector keys by key; we keep source order.
const TEMPLATE_CC_INPUT =
  '#This line is a comment\n' +
  '  # Other comment\n' +
  'MEMORY=345 # more comments behind an attribute\n' +
  '   CPU     =         4\n' +
  '#------------------------------\n' +
  '#Comments in the middle\n' +
  '#------------------------------\n' +
  ' empty_var = \n' +
  'REQUIREMENTS = "HOSTNAME = \\"host*.com\\""\n' +
  ' DISK= [file = path1, extra = "disk attribute "]\n' +
  'DISK =[ FILE = "path2", EXTRA = str, TYPE=disk]\n' +
  ' graphics = [\n' +
  '   VNC = "127.0.0.1",\n' +
  '   PORT = 12\n' +
  ' ]\n';

const TEMPLATE_CC_TO_STR =
  'CPU=4\n' +
  'DISK=EXTRA=disk attribute ,FILE=path1\n' +
  'DISK=EXTRA=str,FILE=path2,TYPE=disk\n' +
  'EMPTY_VAR=\n' +
  'GRAPHICS=PORT=12,VNC=127.0.0.1\n' +
  'MEMORY=345\n' +
  'REQUIREMENTS=HOSTNAME = "host*.com"\n';

// oned's Template::to_str: attributes sorted by name (stable), vector keys sorted, K=V joined by ','.
function toOnedString(template: Template): string {
  const byName = [...template.attributes].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return byName
    .map((attribute) => {
      if (!isVector(attribute)) return `${attribute.name}=${attribute.value}\n`;
      const keys = Object.keys(attribute.value).sort();
      return `${attribute.name}=${keys.map((key) => `${key}=${attribute.value[key]}`).join(',')}\n`;
    })
    .join('');
}

describe('parseTemplate: OpenNebula 3.8.5 template.cc example', () => {
  it('reads every attribute in source order', () => {
    expect(parse(TEMPLATE_CC_INPUT)).toEqual([
      { name: 'MEMORY', value: '345' },
      { name: 'CPU', value: '4' },
      { name: 'EMPTY_VAR', value: '' },
      { name: 'REQUIREMENTS', value: 'HOSTNAME = "host*.com"' },
      vector('DISK', { FILE: 'path1', EXTRA: 'disk attribute ' }),
      vector('DISK', { FILE: 'path2', EXTRA: 'str', TYPE: 'disk' }),
      vector('GRAPHICS', { VNC: '127.0.0.1', PORT: '12' }),
    ]);
  });

  it("matches oned's sorted to_str output", () => {
    expect(toOnedString(parseTemplate(TEMPLATE_CC_INPUT, { file: 'template.cc' }))).toBe(TEMPLATE_CC_TO_STR);
  });
});

describe('the shipped etc/vmm_exec/vmm_exec_kvm.conf', () => {
  const path = new URL('../../etc/vmm_exec/vmm_exec_kvm.conf', import.meta.url);
  const template = parseTemplate(readFileSync(path, 'utf8'), { file: 'vmm_exec_kvm.conf' });

  it("holds master's active attributes, each once, in order", () => {
    expect(template.attributes.map((attribute) => attribute.name)).toEqual([
      'MEMORY_SLOTS',
      'OS',
      'FEATURES',
      'DISK',
      'NIC',
      'HYPERV_OPTIONS',
      'HYPERV_TIMERS',
      'SPICE_OPTIONS',
      'MEMORY_TUNE_OFFSET',
      'Q35_ROOT_PORTS',
      'Q35_NUMA_PCIE',
      'OVMF_UEFIS',
    ]);
  });

  it('has the values of master', () => {
    expect(getVector(template, 'OS')).toEqual({ ARCH: 'x86_64', MACHINE: 'q35' });
    expect(getVector(template, 'FEATURES')).toEqual({
      PAE: 'no',
      ACPI: 'yes',
      APIC: 'no',
      HYPERV: 'no',
      GUEST_AGENT: 'yes',
      VIRTIO_SCSI_QUEUES: 'auto',
      IOTHREADS: '0',
    });
    expect(getVector(template, 'DISK')).toEqual({
      DRIVER: 'raw',
      CACHE: 'none',
      DISCARD: 'unmap',
      UID_MAP: '100000',
      GID_MAP: '100000',
    });
    expect(getVector(template, 'NIC')).toEqual({ MODEL: 'virtio', VIRTIO_QUEUES: 'auto' });
    expect(getSingle(template, 'MEMORY_SLOTS')).toBe('16');
    expect(getSingle(template, 'MEMORY_TUNE_OFFSET')).toBe('256');
    expect(getSingle(template, 'Q35_ROOT_PORTS')).toBe('16');
    expect(getSingle(template, 'Q35_NUMA_PCIE')).toBe('YES');
    expect(getSingle(template, 'EMULATOR')).toBeUndefined();
    expect(getSingle(template, 'OVMF_UEFIS')?.split(' ')).toHaveLength(7);
  });

  it('keeps the multi-line XML options', () => {
    const hyperv = getSingle(template, 'HYPERV_OPTIONS') ?? '';
    expect(hyperv).toContain("<relaxed state='on'/>");
    expect(hyperv).toContain("<spinlocks state='on' retries='8191'/>");
    expect(hyperv.trim().split('\n')).toHaveLength(13);
    expect(getSingle(template, 'HYPERV_TIMERS')).toContain("<timer name='hypervclock' present='yes'/>");
    expect(getSingle(template, 'SPICE_OPTIONS')?.match(/<redirdev /g)).toHaveLength(3);
  });
});

// Test-only printer: every value double-quoted with '"' escaped as \". A value ending in a
// backslash has no spelling in this syntax: in `"x\"` the backslash escapes the closing quote, so
// the string runs on (oned's lexer takes the longest match and may end at a later \"; we report an
// unterminated value). The generator therefore leaves such values out.
function quote(value: string): string {
  return `"${value.replaceAll('"', '\\"')}"`;
}

interface Layout {
  readonly between: string; // after each attribute
  readonly comma: string; // between vector elements
}

function printTemplate(
  entries: readonly (readonly [string, string | (readonly [string, string])[]])[],
  layout: Layout,
) {
  return entries
    .map(([name, value]) => {
      if (typeof value === 'string') return `${name} = ${quote(value)}${layout.between}`;
      const elements = value.map(([key, element]) => `${key} = ${quote(element)}`);
      return `${name} = [ ${elements.join(layout.comma)} ]${layout.between}`;
    })
    .join('');
}

describe('parseTemplate: round trip (fast-check)', () => {
  const name = fc.string({ unit: fc.constantFrom(...'abzABZ09_'), minLength: 1, maxLength: 8 });
  const tricky = fc.constantFrom(
    '"',
    '\\',
    '#',
    ',',
    '[',
    ']',
    '=',
    ' ',
    '\t',
    '\n',
    '\r\n',
    'a',
    'é',
    '😀',
    '\0',
  );
  const value = fc
    .oneof(fc.string({ unit: tricky }), fc.string({ unit: 'binary' }))
    .filter((text) => !text.endsWith('\\') && !text.includes(']]>'));
  const entry = fc.tuple(name, fc.oneof(value, fc.array(fc.tuple(name, value), { maxLength: 5 })));
  const layout = fc.record({
    between: fc.constantFrom(
      '\n',
      ' ',
      '\t',
      '\r\n',
      '\n# a comment, "with" [brackets]\n',
      ' # trailing\n\n',
    ),
    comma: fc.constantFrom(', ', ',', ',\n  ', '\n, ', ' , # comment\n '),
  });

  it('parses printed templates back to the same attributes', () => {
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 6 }), layout, (entries, format) => {
        const expected: Attribute[] = entries.map(([attributeName, attributeValue]) => {
          if (typeof attributeValue === 'string')
            return { name: attributeName.toUpperCase(), value: attributeValue };
          const elements: Record<string, string> = {};
          for (const [key, element] of attributeValue) elements[key.toUpperCase()] ??= element;
          return { name: attributeName.toUpperCase(), value: elements };
        });
        expect(parse(printTemplate(entries, format))).toEqual(expected);
      }),
      { numRuns: 500 },
    );
  });

  it('either parses or throws a ParseError on arbitrary text', () => {
    const text = fc.string({
      unit: fc.constantFrom('A', 'b', '1', '_', ' ', '\n', '=', '"', '\\', '#', ',', '[', ']', '-'),
    });
    fc.assert(
      fc.property(text, (input) => {
        try {
          parseTemplate(input, { file: FILE });
        } catch (error) {
          expect(error).toBeInstanceOf(ParseError);
        }
      }),
      { numRuns: 1000 },
    );
  });
});
