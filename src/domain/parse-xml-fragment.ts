// Parses an XML fragment (RAW data, HYPERV_OPTIONS…) into serializer elements, so that text
// supplied by users reaches the domain XML through the serializer and malformed input is refused.
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import type { XmlChild, XmlElement } from './xml.js';

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  processEntities: true,
  htmlEntities: false,
});

type OrderedNode = Record<string, unknown>;

function toChildren(nodes: readonly OrderedNode[]): XmlChild[] {
  const children: XmlChild[] = [];
  for (const node of nodes) {
    const text = node['#text'];
    if (text !== undefined) {
      children.push(typeof text === 'string' ? text : `${text as number}`);
      continue;
    }
    const name = Object.keys(node).find((key) => key !== ':@');
    if (name === undefined || name.startsWith('?')) continue;
    const attributes = (node[':@'] ?? {}) as Record<string, unknown>;
    const element: XmlElement = {
      name,
      attributes: Object.entries(attributes).map(([key, value]) => [key, String(value)] as const),
      children: toChildren((node[name] ?? []) as OrderedNode[]),
    };
    children.push(element);
  }
  // Blank text between elements is layout; in mixed content every character counts.
  const mixed = children.some((child) => typeof child === 'string' && child.trim() !== '');
  return mixed ? children : children.filter((child) => typeof child !== 'string');
}

export type FragmentResult =
  { readonly ok: true; readonly children: XmlChild[] } | { readonly ok: false; readonly reason: string };

// Parses zero or more sibling elements; reports the first well-formedness error with its line and column.
export function parseXmlFragment(fragment: string): FragmentResult {
  if (/<!DOCTYPE|<!ENTITY/i.test(fragment))
    return { ok: false, reason: 'DOCTYPE and ENTITY declarations are not allowed' };
  // The wrapper sits on its own lines, so columns are the fragment's and lines are one off.
  const wrapped = `<fragment>\n${fragment}\n</fragment>`;
  const verdict = XMLValidator.validate(wrapped);
  if (verdict !== true) {
    const { msg, line, col } = verdict.err;
    const message = msg.replace(/\bline (\d+)/g, (_match, n: string) => `line ${Number(n) - 1}`);
    return { ok: false, reason: `not well-formed XML at line ${line - 1}, column ${col}: ${message}` };
  }
  const parsed = parser.parse(wrapped) as OrderedNode[];
  const root = parsed.find((node) => 'fragment' in node);
  return { ok: true, children: toChildren((root?.['fragment'] ?? []) as OrderedNode[]) };
}
