// A tiny XML element model and its serializer: the only way onevmm produces XML.
// Hand-written because it must reject characters XML 1.0 cannot carry (fast-xml-parser's and
// xmlbuilder2's builders pass U+0001 through, peers.md §3.1), keep attribute order fixed for
// golden files, and stay fast enough for tens of thousands of documents a second.
import { OnevmmError } from '../util/errors.js';

export type XmlAttributeValue = string | number | undefined;

export interface XmlElement {
  readonly name: string;
  // Attributes in output order; undefined values are left out.
  readonly attributes: readonly (readonly [string, XmlAttributeValue])[];
  readonly children: readonly XmlChild[];
}

export type XmlChild = XmlElement | string;

// Builds an element; `children` may contain undefined/false entries, which are dropped.
export function element(
  name: string,
  attributes: Readonly<Record<string, XmlAttributeValue>> | null = null,
  children: readonly (XmlChild | undefined | false | null)[] = [],
): XmlElement {
  return {
    name,
    attributes: attributes === null ? [] : Object.entries(attributes),
    children: children.filter(
      (child): child is XmlChild => child !== undefined && child !== false && child !== null,
    ),
  };
}

// Builds `<name>text</name>`, or nothing when the text is undefined.
export function textElement(
  name: string,
  text: string | number | undefined,
  attributes: Readonly<Record<string, XmlAttributeValue>> | null = null,
): XmlElement | undefined {
  if (text === undefined) return undefined;
  return element(name, attributes, [String(text)]);
}

// Characters outside XML 1.0's Char production (control characters, lone surrogates, U+FFFE/U+FFFF).
const INVALID_CHAR = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

// Returns a description of the first character XML 1.0 cannot carry, or undefined if the text is clean.
export function findInvalidXmlChar(text: string): string | undefined {
  const match = INVALID_CHAR.exec(text);
  if (match === null) return undefined;
  const code = match[0].codePointAt(0) ?? 0;
  return `U+${code.toString(16).toUpperCase().padStart(4, '0')} at offset ${match.index}`;
}

// Cheap first checks (no /u flag): most values contain nothing to escape or reject.
// eslint-disable-next-line no-control-regex -- these are the characters XML 1.0 forbids
const TEXT_SUSPECT = /[&<>\r\x00-\x08\x0B\x0C\x0E-\x1F\uD800-\uDFFF\uFFFE\uFFFF]/;
// eslint-disable-next-line no-control-regex -- these are the characters XML 1.0 forbids
const ATTRIBUTE_SUSPECT = /[&<>'\t\n\r\x00-\x08\x0B\x0C\x0E-\x1F\uD800-\uDFFF\uFFFE\uFFFF]/;
const TEXT_SPECIAL = /[&<>\r]/g;
const ATTRIBUTE_SPECIAL = /[&<>'\t\n\r]/g;
const ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  "'": '&apos;',
  '\t': '&#9;',
  '\n': '&#10;',
  '\r': '&#13;',
};

// Thrown when a value holds a character XML 1.0 cannot carry; `path` is where it would go.
export class XmlCharacterError extends OnevmmError {
  readonly path: string;
  readonly value: string;

  constructor(path: string, value: string, invalid: string) {
    super('TRANSLATE', `${path}: character ${invalid} cannot be written in XML`);
    this.name = 'XmlCharacterError';
    this.path = path;
    this.value = value;
  }
}

function escapeWith(text: string, suspect: RegExp, special: RegExp, where: () => string): string {
  if (!suspect.test(text)) return text;
  const invalid = findInvalidXmlChar(text);
  if (invalid !== undefined) throw new XmlCharacterError(where(), text, invalid);
  return text.replace(special, (char) => ESCAPES[char] ?? char);
}

const NAME = /^[A-Za-z_][\w.:-]*$/;
const knownNames = new Set<string>();

function checkName(name: string, ancestors: readonly string[], element: string): void {
  if (knownNames.has(name)) return;
  if (!NAME.test(name))
    throw new OnevmmError('TRANSLATE', `${pathOf(ancestors, element)}: '${name}' is not an XML name`);
  if (knownNames.size < 10_000) knownNames.add(name);
}

// The path of an element for error messages, built only when an error is raised.
function pathOf(ancestors: readonly string[], name: string): string {
  return `/${[...ancestors, name].join('/')}`;
}

function writeAttributes(node: XmlElement, ancestors: readonly string[]): string {
  let out = '';
  for (const [name, value] of node.attributes) {
    if (value === undefined) continue;
    checkName(name, ancestors, node.name);
    // Attribute values are single-quoted; tabs and newlines become character references so the
    // exact value survives attribute-value normalisation.
    const text = typeof value === 'number' ? String(value) : value;
    out += ` ${name}='${escapeWith(text, ATTRIBUTE_SUSPECT, ATTRIBUTE_SPECIAL, () => `${pathOf(ancestors, node.name)}/@${name}`)}'`;
  }
  return out;
}

// Any text child makes the element inline: text is written exactly, even when blank.
function isInline(node: XmlElement): boolean {
  for (const child of node.children) if (typeof child === 'string') return true;
  return false;
}

const pads: string[] = [''];

function padFor(depth: number, indent: string): string {
  if (indent !== '\t') return indent.repeat(depth);
  while (pads.length <= depth) pads.push(`${pads[pads.length - 1] ?? ''}\t`);
  return pads[depth] ?? '';
}

function writeElement(node: XmlElement, depth: number, ancestors: string[], indent: string): string {
  checkName(node.name, ancestors, node.name);
  const pad = padFor(depth, indent);
  const open = `<${node.name}${writeAttributes(node, ancestors)}`;
  if (node.children.length === 0) return `${pad}${open}/>\n`;
  if (isInline(node)) return `${pad}${open}>${writeInline(node, ancestors)}</${node.name}>\n`;
  let out = `${pad}${open}>\n`;
  ancestors.push(node.name);
  for (const child of node.children) {
    if (typeof child !== 'string') out += writeElement(child, depth + 1, ancestors, indent);
  }
  ancestors.pop();
  return `${out}${pad}</${node.name}>\n`;
}

// Mixed or text content is written on one line, exactly as given.
function writeInline(node: XmlElement, ancestors: string[]): string {
  let out = '';
  ancestors.push(node.name);
  for (const child of node.children) {
    if (typeof child === 'string') {
      out += escapeWith(
        child,
        TEXT_SUSPECT,
        TEXT_SPECIAL,
        () => `${pathOf(ancestors.slice(0, -1), node.name)}/text()`,
      );
    } else {
      out += writeElement(child, 0, ancestors, '').slice(0, -1);
    }
  }
  ancestors.pop();
  return out;
}

// Serializes an element tree, one element per line, indented with tabs (as oned does).
export function serializeXml(root: XmlElement, indent = '\t'): string {
  return writeElement(root, 0, [], indent);
}
