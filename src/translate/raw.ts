// RAW sections and XML-valued options (HYPERV_OPTIONS, SPICE_OPTIONS…): parsed, never pasted.
import { parseXmlFragment } from '../domain/parse-xml-fragment.js';
import type { XmlChild, XmlElement } from '../domain/xml.js';
import { TranslateError } from '../util/errors.js';
import type { TranslateContext } from './context.js';

// Parses an XML-valued attribute into elements; an unparsable value is an error naming the attribute.
export function parseOptionFragment(
  _ctx: TranslateContext,
  attribute: string,
  text: string | undefined,
): XmlChild[] {
  if (text === undefined || text.trim() === '') return [];
  const result = parseXmlFragment(text);
  if (!result.ok) throw new TranslateError(attribute, result.reason);
  return result.children;
}

// The VM's RAW=[TYPE=kvm, DATA=…] sections in order, then the defaults' RAW (a VM cannot override it).
export function buildRaw(ctx: TranslateContext): XmlElement[] {
  const elements: XmlElement[] = [];
  ctx.look.vmVectors('RAW').forEach((raw, index) => {
    if ((raw['TYPE'] ?? '').toLowerCase() !== 'kvm') return;
    for (const child of parseOptionFragment(ctx, `RAW[${index}]/DATA`, raw['DATA'])) {
      if (typeof child === 'string')
        throw new TranslateError(`RAW[${index}]/DATA`, 'text outside an element');
      elements.push(child);
    }
  });
  for (const child of parseOptionFragment(ctx, 'RAW (defaults)', ctx.look.defaultSingle('RAW'))) {
    if (typeof child === 'string') throw new TranslateError('RAW (defaults)', 'text outside an element');
    elements.push(child);
  }
  return elements;
}
