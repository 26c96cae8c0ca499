// Names the VM attribute behind a value the serializer refused, so errors point at the template.
import { findInvalidXmlChar, type XmlCharacterError } from '../domain/xml.js';
import type { Vm } from '../template/vm.js';
import { TranslateError } from '../util/errors.js';

// Every string of the VM with its template path (NAME, UNAME, DISK[0]/SOURCE…).
function* listValues(vm: Vm): Generator<readonly [string, string]> {
  yield ['NAME', vm.name];
  if (vm.uname !== undefined) yield ['UNAME', vm.uname];
  if (vm.gname !== undefined) yield ['GNAME', vm.gname];
  if (vm.history?.dsLocation !== undefined) yield ['HISTORY/DS_LOCATION', vm.history.dsLocation];
  const counts = new Map<string, number>();
  for (const attribute of vm.template.attributes) {
    const n = counts.get(attribute.name) ?? 0;
    counts.set(attribute.name, n + 1);
    if (typeof attribute.value === 'string') {
      yield [attribute.name, attribute.value];
      continue;
    }
    for (const [key, item] of Object.entries(attribute.value)) yield [`${attribute.name}[${n}]/${key}`, item];
  }
}

// The longest VM value, with its template path, that holds a character XML cannot carry and is
// part of `value` (values are often composed, e.g. "root=/dev/<ROOT> <KERNEL_CMD>").
export function findAttributeHolding(vm: Vm, value: string): readonly [string, string] | undefined {
  let best: readonly [string, string] | undefined;
  for (const entry of listValues(vm)) {
    const [, item] = entry;
    if (findInvalidXmlChar(item) === undefined || !value.includes(item)) continue;
    if (best === undefined || item.length > best[1].length) best = entry;
  }
  return best ?? findByNeighbourhood(vm, value);
}

// For values that reach the XML changed (lower-cased, split, trimmed): the VM value that holds the
// same bad character with the same characters around it, ignoring case.
function findByNeighbourhood(vm: Vm, value: string): readonly [string, string] | undefined {
  const match = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u.exec(value);
  if (match === null) return undefined;
  const window = value.slice(Math.max(0, match.index - 2), match.index + match[0].length + 2).toLowerCase();
  for (const entry of listValues(vm)) {
    if (entry[1].toLowerCase().includes(window)) return entry;
  }
  for (const entry of listValues(vm)) {
    if (entry[1].includes(match[0])) return entry;
  }
  return undefined;
}

// Rewrites a serializer character error as a TranslateError naming the VM attribute when found.
export function explainXmlCharacterError(vm: Vm, error: XmlCharacterError): TranslateError {
  const found = findAttributeHolding(vm, error.value);
  if (found === undefined) return new TranslateError(error.path, error.message.slice(error.path.length + 2));
  const [attribute, value] = found;
  const invalid = findInvalidXmlChar(value) ?? '';
  return new TranslateError(
    attribute,
    `character ${invalid} cannot be written in XML (it would go to ${error.path})`,
  );
}
