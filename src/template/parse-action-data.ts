// Reads the `<VMM_DRIVER_ACTION_DATA>` envelope oned sends with every action (reference §2.4),
// given as XML or as base64 of it (the protocol line carries base64; scripts may get either on stdin).
import type { ActionData } from './vm.js';
import { ParseError } from '../util/errors.js';
import {
  createElementError,
  findChild,
  readOptionalText,
  readInteger,
  readTemplate,
  readVm,
  readXmlRoot,
  type ParsedElement,
} from './parse-vm-xml.js';

// Standard alphabet, padded: what oned's base64_encode and Ruby's Base64.encode64 write.
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

// True when the text is base64 as oned writes it (padded; blanks and line breaks allowed).
export function isBase64Document(text: string): boolean {
  const compact = text.replace(/\s+/g, '');
  return compact !== '' && BASE64.test(compact);
}

// Returns the XML text of a document given raw (first non-blank character `<`) or as base64 (blanks and
// line breaks allowed anywhere); anything else is a ParseError.
export function decodeStdinDocument(input: string, options: { file: string } = { file: '<stdin>' }): string {
  const trimmed = input.trim();
  if (trimmed.startsWith('<')) return input;
  const fail = (reason: string): never => {
    throw new ParseError({ file: options.file, line: 1 }, reason);
  };
  const compact = trimmed.replace(/\s+/g, '');
  if (compact === '' || !BASE64.test(compact)) return fail('payload is neither XML nor base64');
  let text = '';
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(compact, 'base64'));
  } catch {
    fail('base64 payload does not decode to UTF-8 text');
  }
  if (!text.trimStart().startsWith('<')) fail('base64 payload does not decode to XML');
  return text;
}

// Parses the envelope: empty elements read as undefined, `<VM>` as a Vm, `<DATASTORE>` as its ID and TEMPLATE.
export function parseActionData(payload: string, options: { file: string }): ActionData {
  const { file } = options;
  const root = readXmlRoot(decodeStdinDocument(payload, options), file);
  if (root.name !== 'VMM_DRIVER_ACTION_DATA') {
    throw createElementError(
      file,
      root,
      `expected root element <VMM_DRIVER_ACTION_DATA>, found <${root.name}>`,
    );
  }
  const vm = findChild(root, 'VM');
  const datastore = findChild(root, 'DATASTORE');
  return {
    host: readOptionalText(root, 'HOST'),
    migrHost: readOptionalText(root, 'MIGR_HOST'),
    deployId: readOptionalText(root, 'DEPLOY_ID'),
    localDeploymentFile: readOptionalText(root, 'LOCAL_DEPLOYMENT_FILE'),
    remoteDeploymentFile: readOptionalText(root, 'REMOTE_DEPLOYMENT_FILE'),
    checkpointFile: readOptionalText(root, 'CHECKPOINT_FILE'),
    tmCommand: readOptionalText(root, 'TM_COMMAND'),
    tmCommandRollback: readOptionalText(root, 'TM_COMMAND_ROLLBACK'),
    diskTargetPath: readOptionalText(root, 'DISK_TARGET_PATH'),
    securityGroupId: readOptionalText(root, 'SECURITY_GROUP_ID'),
    virtualNetworkId: readOptionalText(root, 'VIRTUAL_NETWORK_ID'),
    vm: vm === undefined ? undefined : readVm(vm, file),
    datastore: datastore === undefined || isEmpty(datastore) ? undefined : readDatastore(datastore, file),
    vmXml: vm?.source,
    datastoreXml: datastore?.source,
  };
}

function readDatastore(element: ParsedElement, file: string): NonNullable<ActionData['datastore']> {
  const id = findChild(element, 'ID');
  const template = findChild(element, 'TEMPLATE');
  return {
    id: id === undefined ? undefined : readInteger(id, file),
    basePath: readOptionalText(element, 'BASE_PATH'),
    template: template === undefined ? { attributes: [] } : readTemplate(template),
  };
}

function isEmpty(element: ParsedElement): boolean {
  return element.children.length === 0 && element.text.trim() === '';
}
