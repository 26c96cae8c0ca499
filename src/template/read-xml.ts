// A small, strict XML reader for oned's documents (<VM>, <VMM_DRIVER_ACTION_DATA>): elements,
// text, CDATA, comments and processing instructions; attributes are checked and dropped.
// Hand-written because the translate budget is tens of microseconds per VM and fast-xml-parser
// (validator + parser) took about 3 ms for an 11 KB VM; it also refuses any DOCTYPE, so no
// entity is ever declared or expanded.
import { ParseError } from '../util/errors.js';

// One element of a parsed document, with its position for error messages.
export interface ParsedElement {
  readonly name: string;
  readonly line: number;
  readonly column: number;
  // The element's own text and CDATA, concatenated and decoded ('' when it has none).
  readonly text: string;
  readonly children: readonly ParsedElement[];
  // The element as written in the document, from '<' to its end (line breaks normalized to LF).
  readonly source: string;
}

const MAX_DEPTH = 64;
// eslint-disable-next-line no-control-regex -- these are the characters XML 1.0 forbids
const ILLEGAL_SUSPECT = /[\x00-\x08\x0B\x0C\x0E-\x1F\uD800-\uDFFF\uFFFE\uFFFF]/;
const ILLEGAL_CHARACTER = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

// XML name characters, simplified: ASCII letters, '_', ':', and anything from U+00B7 up; digits,
// '-' and '.' after the first character.
function isNameChar(c: number, first: boolean): boolean {
  if ((c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x5f || c === 0x3a) return true;
  if (c >= 0xb7 && c <= 0xfffd && c !== 0xd7 && c !== 0xf7) return true;
  return !first && ((c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2e);
}
const REFERENCE = /&(?:(lt|gt|amp|quot|apos)|#([0-9]+)|#x([0-9a-fA-F]+));/y;
const PREDEFINED: Readonly<Record<string, string>> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

// Positions are worked out only when asked for (error messages), not for every element.
class Element implements ParsedElement {
  readonly name: string;
  readonly text: string;
  readonly children: readonly ParsedElement[];
  private readonly offset: number;
  private readonly end: number;
  private readonly reader: Reader;

  constructor(
    name: string,
    offset: number,
    end: number,
    reader: Reader,
    text: string,
    children: readonly ParsedElement[],
  ) {
    this.name = name;
    this.offset = offset;
    this.end = end;
    this.reader = reader;
    this.text = text;
    this.children = children;
  }

  get source(): string {
    return this.reader.slice(this.offset, this.end);
  }

  get line(): number {
    return this.reader.positionAt(this.offset).line;
  }

  get column(): number {
    return this.reader.positionAt(this.offset).column;
  }
}

class Reader {
  private readonly text: string;
  private readonly file: string;
  private lineStarts: number[] | undefined;
  pos = 0;

  constructor(text: string, file: string) {
    this.text = text;
    this.file = file;
  }

  slice(start: number, end: number): string {
    return this.text.slice(start, end);
  }

  fail(index: number, reason: string): never {
    throw new ParseError({ file: this.file, ...this.positionAt(index) }, reason);
  }

  positionAt(index: number): { line: number; column: number } {
    if (this.lineStarts === undefined) {
      const starts = [0];
      for (let at = this.text.indexOf('\n'); at !== -1; at = this.text.indexOf('\n', at + 1))
        starts.push(at + 1);
      this.lineStarts = starts;
    }
    const starts = this.lineStarts;
    let low = 0;
    let high = starts.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if ((starts[middle] ?? 0) <= index) low = middle;
      else high = middle - 1;
    }
    return { line: low + 1, column: index - (starts[low] ?? 0) + 1 };
  }

  skipBlanks(): void {
    const { text } = this;
    let pos = this.pos;
    for (let c = text.charCodeAt(pos); c === 0x20 || c === 0x0a || c === 0x09; c = text.charCodeAt(++pos));
    this.pos = pos;
  }

  // Scanned by hand: a sticky regex here was the reader's main cost.
  readName(): string {
    const { text } = this;
    const start = this.pos;
    let pos = start;
    for (let c = text.charCodeAt(pos); isNameChar(c, pos === start); c = text.charCodeAt(++pos));
    if (pos === start) this.fail(start, `expected a name, found ${this.describe(start)}`);
    this.pos = pos;
    return text.slice(start, pos);
  }

  describe(index: number): string {
    return index >= this.text.length ? 'the end of the document' : `'${this.text.slice(index, index + 12)}'`;
  }

  // Skips <!-- -->, <? ?> and <![CDATA[ ]]> (returning the CDATA text); undefined if none starts here.
  skipSpecial(): string | undefined {
    const { text, pos } = this;
    const next = text.charCodeAt(pos + 1);
    if (next !== 0x21 /* ! */ && next !== 0x3f /* ? */) return undefined;
    if (text.startsWith('<!--', pos)) {
      this.skipUntil('-->', pos + 4, 'comment');
      return '';
    }
    if (text.startsWith('<![CDATA[', pos))
      return text.slice(pos + 9, this.skipUntil(']]>', pos + 9, 'CDATA section'));
    if (next === 0x3f) {
      this.skipUntil('?>', pos + 2, 'processing instruction');
      return '';
    }
    return this.fail(pos, 'DOCTYPE and entity declarations are not accepted');
  }

  // Moves past the next `terminator`; returns where it starts.
  private skipUntil(terminator: string, from: number, what: string): number {
    const end = this.text.indexOf(terminator, from);
    if (end === -1) this.fail(this.pos, `unterminated ${what}`);
    this.pos = end + terminator.length;
    return end;
  }

  // Decodes character data between markup: predefined entities and character references only.
  decodeText(start: number, end: number): string {
    const segment = this.text.slice(start, end);
    const closer = segment.indexOf(']]>');
    if (closer !== -1) this.fail(start + closer, "']]>' is not allowed in text");
    if (!segment.includes('&')) return segment;
    let out = '';
    let last = 0;
    for (let amp = segment.indexOf('&'); amp !== -1; amp = segment.indexOf('&', last)) {
      REFERENCE.lastIndex = amp;
      const found = REFERENCE.exec(segment);
      if (found === null) {
        const entity = /^&[A-Za-z_][\w.-]*;/.exec(segment.slice(amp, amp + 80))?.[0];
        this.fail(
          start + amp,
          entity ? `unknown entity ${entity}` : "'&' must start an entity or character reference",
        );
      }
      let char: string;
      if (found[1] !== undefined) {
        char = PREDEFINED[found[1]] ?? '';
      } else {
        const code = found[2] === undefined ? Number.parseInt(found[3] ?? '', 16) : Number(found[2]);
        char = code <= 0x10ffff ? String.fromCodePoint(code) : '\uFFFF';
        if (ILLEGAL_CHARACTER.test(char)) this.fail(start + amp, `${found[0]} is not an XML character`);
      }
      out += segment.slice(last, amp) + char;
      last = REFERENCE.lastIndex;
    }
    return out + segment.slice(last);
  }

  skipAttributes(element: string): boolean {
    const { text } = this;
    for (;;) {
      const before = this.pos;
      this.skipBlanks();
      if (text.startsWith('/>', this.pos)) {
        this.pos += 2;
        return true;
      }
      if (text[this.pos] === '>') {
        this.pos += 1;
        return false;
      }
      if (this.pos === before)
        this.fail(this.pos, `expected '>' or an attribute in <${element}>, found ${this.describe(this.pos)}`);
      this.readName();
      this.skipBlanks();
      if (text[this.pos] !== '=') this.fail(this.pos, `expected '=' after an attribute name in <${element}>`);
      this.pos += 1;
      this.skipBlanks();
      const quote = text[this.pos];
      if (quote !== '"' && quote !== "'")
        this.fail(this.pos, `expected a quoted attribute value in <${element}>`);
      const end = text.indexOf(quote, this.pos + 1);
      if (end === -1) this.fail(this.pos, `unterminated attribute value in <${element}>`);
      const lt = text.indexOf('<', this.pos + 1);
      if (lt !== -1 && lt < end) this.fail(lt, `'<' is not allowed in an attribute value`);
      this.decodeText(this.pos + 1, end);
      this.pos = end + 1;
    }
  }

  readElement(depth: number): ParsedElement {
    const start = this.pos;
    if (depth > MAX_DEPTH) this.fail(start, `elements nested deeper than ${MAX_DEPTH} levels`);
    this.pos += 1; // '<'
    const name = this.readName();
    if (this.skipAttributes(name)) return new Element(name, start, this.pos, this, '', []);
    const { text } = this;
    const children: ParsedElement[] = [];
    let own = '';
    for (;;) {
      const lt = text.indexOf('<', this.pos);
      if (lt === -1) this.fail(start, `<${name}> is never closed`);
      if (lt > this.pos) own += this.decodeText(this.pos, lt);
      this.pos = lt;
      if (text.startsWith('</', lt)) {
        this.pos += 2;
        // The common case costs one comparison; a mismatch reads the name for the message.
        const end = this.pos + name.length;
        if (text.startsWith(name, this.pos) && !isNameChar(text.charCodeAt(end), false)) {
          this.pos = end;
        } else {
          const closing = this.readName();
          this.fail(
            lt,
            `expected </${name}> (opened at line ${this.positionAt(start).line}), found </${closing}>`,
          );
        }
        this.skipBlanks();
        if (text[this.pos] !== '>') this.fail(this.pos, `expected '>' to close </${name}>`);
        this.pos += 1;
        return new Element(name, start, this.pos, this, own, children);
      }
      const special = this.skipSpecial();
      if (special !== undefined) own += special;
      else children.push(this.readElement(depth + 1));
    }
  }

  // Skips blanks, comments, processing instructions (and the XML declaration) between top-level items.
  skipMisc(): void {
    for (;;) {
      this.skipBlanks();
      if (this.text.startsWith('<![CDATA[', this.pos)) this.fail(this.pos, 'CDATA outside the root element');
      if (this.skipSpecial() === undefined) return;
    }
  }
}

// Parses an XML document and returns its single root element; errors carry file, line and column.
export function readXmlRoot(xml: string, file: string): ParsedElement {
  // XML 1.0 §2.11: CR LF and lone CR read as LF (libxml2, which oned uses, does the same).
  const text = (xml.startsWith('\uFEFF') ? xml.slice(1) : xml).replace(/\r\n?/g, '\n');
  const reader = new Reader(text, file);
  if (ILLEGAL_SUSPECT.test(text)) {
    const illegal = ILLEGAL_CHARACTER.exec(text);
    if (illegal !== null) {
      const hex = (illegal[0].codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0');
      reader.fail(illegal.index, `character U+${hex} is not allowed in XML`);
    }
  }
  if (/^\s+<\?xml[\s?]/.test(text)) reader.fail(text.indexOf('<?xml'), 'the XML declaration must come first');
  reader.skipMisc();
  if (text[reader.pos] !== '<') {
    reader.fail(
      reader.pos,
      reader.pos >= text.length
        ? 'document has no root element'
        : `expected '<', found ${reader.describe(reader.pos)}`,
    );
  }
  const root = reader.readElement(1);
  reader.skipMisc();
  if (reader.pos < text.length) {
    if (text[reader.pos] === '<') {
      const extra = reader.readElement(1);
      reader.fail(
        text.lastIndexOf(`<${extra.name}`, reader.pos),
        `second root element <${extra.name}> after <${root.name}>`,
      );
    }
    reader.fail(reader.pos, `text after the root element <${root.name}>`);
  }
  return root;
}
