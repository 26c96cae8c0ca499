// Reads oned's `<VM>` document (`onevm show -x`, or the VM inside the driver payload) into a Vm.
// Also exports the XML reading steps that parse-action-data.ts shares.
import { createVector, type Attribute, type Template, type Vector } from './model.js';
import type { Vm, VmHistory } from './vm.js';
import { ParseError } from '../util/errors.js';
import { readXmlRoot, type ParsedElement } from './read-xml.js';

export { readXmlRoot, type ParsedElement } from './read-xml.js';

// Parses oned's VM XML; the document root must be `<VM>`.
export function parseVmXml(xml: string, options: { file: string }): Vm {
  const root = readXmlRoot(xml, options.file);
  if (root.name !== 'VM')
    throw createElementError(options.file, root, `expected root element <VM>, found <${root.name}>`);
  return readVm(root, options.file);
}

// Reads a `<VM>` element: identity, TEMPLATE, USER_TEMPLATE and the last HISTORY record.
export function readVm(element: ParsedElement, file: string): Vm {
  const vmTemplate = requireChild(element, 'TEMPLATE', file);
  const userTemplate = findChild(element, 'USER_TEMPLATE');
  const lcmState = findChild(element, 'LCM_STATE');
  return {
    id: readInteger(requireChild(element, 'ID', file), file),
    name: findChild(element, 'NAME')?.text ?? '',
    uid: readOptionalText(element, 'UID'),
    gid: readOptionalText(element, 'GID'),
    uname: readOptionalText(element, 'UNAME'),
    gname: readOptionalText(element, 'GNAME'),
    stime: readOptionalText(element, 'STIME'),
    deployId: readOptionalText(element, 'DEPLOY_ID'),
    lcmState: lcmState && lcmState.text !== '' ? readInteger(lcmState, file) : undefined,
    template: readTemplate(vmTemplate),
    userTemplate: userTemplate ? readTemplate(userTemplate) : { attributes: [] },
    history: readLastHistory(findChild(element, 'HISTORY_RECORDS'), file),
  };
}

// Turns a TEMPLATE element into a Template, in document order. A child with sub-elements is a vector of its
// children's texts: a repeated key keeps the first value, and deeper sub-elements are dropped (oned's
// Template::from_xml keeps only text values in vectors). Any other child is a single attribute.
export function readTemplate(element: ParsedElement): Template {
  const attributes: Attribute[] = element.children.map((child) =>
    child.children.length === 0
      ? { name: upperCase(child.name), value: child.text }
      : { name: upperCase(child.name), value: readVector(child) },
  );
  return { attributes };
}

function readVector(element: ParsedElement): Vector {
  const vector = createVector();
  for (const child of element.children) {
    const key = upperCase(child.name);
    if (child.children.length === 0 && !(key in vector)) vector[key] = child.text;
  }
  return vector;
}

// ≥5.0 writes VM_MAD/TM_MAD; ≤4.14 wrote VMMMAD/TMMAD and DS_LOCATION (removed by the 4.90 migration).
function readLastHistory(records: ParsedElement | undefined, file: string): VmHistory | undefined {
  const last = records?.children.filter((child) => child.name === 'HISTORY').at(-1);
  if (last === undefined) return undefined;
  const hid = findChild(last, 'HID');
  const dsLocation = readOptionalText(last, 'DS_LOCATION');
  return {
    seq: readInteger(requireChild(last, 'SEQ', file), file),
    hostname: requireChild(last, 'HOSTNAME', file).text,
    hid: hid && hid.text !== '' ? readInteger(hid, file, -1) : undefined,
    dsId: readInteger(requireChild(last, 'DS_ID', file), file),
    dsLocation: dsLocation === undefined ? undefined : dsLocation.replace(/(?<=.)\/+$/, ''),
    vmMad: readOptionalText(last, 'VM_MAD') ?? readOptionalText(last, 'VMMMAD'),
    tmMad: readOptionalText(last, 'TM_MAD') ?? readOptionalText(last, 'TMMAD'),
  };
}

// Returns the first child element NAME, or undefined.
export function findChild(element: ParsedElement, name: string): ParsedElement | undefined {
  return element.children.find((child) => child.name === name);
}

// Returns the text of the first child NAME; undefined when it is missing or empty.
export function readOptionalText(element: ParsedElement, name: string): string | undefined {
  const text = findChild(element, name)?.text;
  return text === '' ? undefined : text;
}

function requireChild(element: ParsedElement, name: string, file: string): ParsedElement {
  const child = findChild(element, name);
  if (child === undefined)
    throw createElementError(file, element, `<${element.name}> has no <${name}> element`);
  return child;
}

// Reads an element's text as an integer ≥ min (surrounding blanks allowed).
export function readInteger(element: ParsedElement, file: string, min = 0): number {
  const text = element.text.trim();
  const value = /^-?[0-9]+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value < min) {
    const expected = min === 0 ? 'a non-negative integer' : `an integer ≥ ${min}`;
    throw createElementError(file, element, `<${element.name}> must be ${expected}, got '${element.text}'`);
  }
  return value;
}

// Builds a ParseError located at an element's start tag.
export function createElementError(file: string, element: ParsedElement, reason: string): ParseError {
  return new ParseError({ file, line: element.line, column: element.column }, reason);
}

// oned upper-cases names with C toupper: ASCII letters only.
function upperCase(name: string): string {
  return /[a-z]/.test(name) ? name.replace(/[a-z]+/g, (letters) => letters.toUpperCase()) : name;
}
