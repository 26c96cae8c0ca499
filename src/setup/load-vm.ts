// Reads the VM to translate from a file: oned's <VM> XML, a <VMM_DRIVER_ACTION_DATA> envelope
// (raw or base64), or a template in OpenNebula syntax.
import { readFile } from 'node:fs/promises';
import { getVectorValue, toReplaceMode, type Template } from '../template/model.js';
import { decodeStdinDocument, isBase64Document, parseActionData } from '../template/parse-action-data.js';
import { parseTemplate } from '../template/parse-template.js';
import { parseVmXml } from '../template/parse-vm-xml.js';
import type { Vm } from '../template/vm.js';
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
  const text = await readTextFile(path, 'VM');
  if (text.trimStart().startsWith('<') || isBase64Document(text)) {
    const xml = decodeStdinDocument(text, { file: path });
    if (/^\s*(<\?xml[^>]*>\s*)?<VM[\s>]/.test(xml)) return parseVmXml(xml, { file: path });
    const data = parseActionData(xml, { file: path });
    if (data.vm === undefined) throw new OnevmmError('PARSE', `${path}: the action data holds no <VM>`);
    return data.vm;
  }
  const template = parseTemplate(text, { file: path });
  const machine =
    getVectorValue(template, 'OS', 'MACHINE') || getVectorValue(options.defaults, 'OS', 'MACHINE');
  return createVmFromTemplate(template, { vmId: options.vmId ?? 0, machine });
}
