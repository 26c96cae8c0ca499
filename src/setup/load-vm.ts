// Reads the VM to translate from a file: oned's <VM> XML, a <VMM_DRIVER_ACTION_DATA> envelope
// (raw or base64), or a template in OpenNebula syntax.
import { readFile } from 'node:fs/promises';
import { getVectorValue, toReplaceMode, type Template } from '../template/model.js';
import { decodeStdinDocument, isBase64Document, parseActionData } from '../template/parse-action-data.js';
import { parseTemplate } from '../template/parse-template.js';
import { parseVmXml } from '../template/parse-vm-xml.js';
import type { ActionData, Vm } from '../template/vm.js';
import { resolveDefaultsPath } from './paths.js';
import { createVmFromTemplate } from '../template/vm-from-template.js';
import { OnevmmError } from '../util/errors.js';

// Reads a text file, turning a missing or unreadable file into a one-line error.
export async function readTextFile(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    const reason =
      (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message;
    throw new OnevmmError('USAGE', `${path}: cannot read the ${what}: ${reason}`);
  }
}

// Parses the defaults file in replace mode (the last of a repeated attribute wins, as in oned).
export async function loadDefaults(path: string): Promise<Template> {
  return toReplaceMode(parseTemplate(await readTextFile(path, 'defaults file'), { file: path }));
}

// Loads the VM from a file; templates get the DISK/NIC ids and targets oned would assign.
export async function loadVm(
  path: string,
  options: { vmId: number | undefined; defaults: Template },
): Promise<Vm> {
  const { vm } = await loadVmDocument(path, options);
  if (vm === undefined) throw new OnevmmError('PARSE', `${path}: the action data holds no <VM>`);
  return vm;
}

// Loads a VM file as an action document: oned's action data keeps its paths (BASE_PATH, the
// deployment file), a <VM> or a template gives the VM alone.
export async function loadVmDocument(
  path: string,
  options: { vmId: number | undefined; defaults: Template },
): Promise<ActionData> {
  const text = await readTextFile(path, 'VM');
  if (text.trimStart().startsWith('<') || isBase64Document(text)) return parseVmDocument(text, path);
  const template = parseTemplate(text, { file: path });
  const machine =
    getVectorValue(template, 'OS', 'MACHINE') || getVectorValue(options.defaults, 'OS', 'MACHINE');
  return { vm: createVmFromTemplate(template, { vmId: options.vmId ?? 0, machine }) };
}

// Reads an action document given on stdin or as a (base64) argument: VMM_DRIVER_ACTION_DATA, or a
// bare <VM> (then only the VM is known).
export function parseVmDocument(text: string, file: string): ActionData {
  const xml = decodeStdinDocument(text, { file });
  if (/^\s*(<\?xml[^>]*>\s*)?<VM[\s>]/.test(xml)) return { vm: parseVmXml(xml, { file }) };
  return parseActionData(xml, { file });
}

// The action document of an executable: --vm-xml FILE (a template, a <VM> or action data) wins
// over the text given (stdin or an argument).
export async function readVmDocument(
  text: string,
  options: {
    readonly file?: string | undefined;
    readonly defaults: string | undefined;
    readonly vmId?: string;
  },
): Promise<ActionData> {
  if (options.file !== undefined) {
    const vmId = options.vmId === undefined || !/^\d+$/.test(options.vmId) ? undefined : Number(options.vmId);
    const defaults = await loadDefaults(resolveDefaultsPath(options.defaults));
    return loadVmDocument(options.file, { vmId, defaults });
  }
  if (text.trim() === '')
    throw new OnevmmError('USAGE', 'no action document: give it on stdin or with --vm-xml FILE');
  return parseVmDocument(text, '<stdin>');
}
