// Makes a Vm from a template file, doing what oned does at instantiation (reference §6.2):
// DISK_ID and disk TARGETs, the context disk, NIC_ID and NIC TARGETs, boot ORDER from OS/BOOT.
import { OnevmmError } from '../util/errors.js';
import { createVector, getSingle, type Attribute, type Template, type Vector } from './model.js';
import type { Vm } from './vm.js';
import { showValue } from '../util/show-value.js';

export interface VmFromTemplateOptions {
  readonly vmId: number;
  // The machine type (OS/MACHINE of the VM or the defaults): q35/virt changes CD-ROM prefixes and limits.
  readonly machine?: string | undefined;
  // oned.conf DEFAULT_DEVICE_PREFIX.
  readonly defaultDevicePrefix?: string;
}

const fail = (attribute: string, reason: string): never => {
  throw new OnevmmError('TRANSLATE', `${attribute}: ${reason}`);
};

// a, b, …, z, aa, ab, …
function letters(index: number): string {
  let out = '';
  for (let n = index + 1; n > 0; n = Math.floor((n - 1) / 26))
    out = String.fromCharCode(97 + ((n - 1) % 26)) + out;
  return out;
}

function isCdromDisk(disk: Vector): boolean {
  return (disk['TYPE'] ?? '').toUpperCase() === 'CDROM';
}

// Assigns TARGETs to disks (and the context) that have none, in oned's order.
function assignTargets(
  disks: Record<string, string>[],
  context: Record<string, string> | undefined,
  options: VmFromTemplateOptions,
): void {
  const q35 = /q35|virt/.test(options.machine ?? '');
  const defaultPrefix = options.defaultDevicePrefix ?? 'sd';
  const cdromPrefix = q35 ? 'sd' : 'hd';
  const used = new Set<string>();
  const all = context === undefined ? disks : [...disks, context];
  all.forEach((disk, i) => {
    const target = disk['TARGET'];
    if (target === undefined || target === '') return;
    const where = disk === context ? 'CONTEXT/TARGET' : `DISK[${i}]/TARGET`;
    if (used.has(target)) fail(where, `target ${showValue(target)} is used by another disk`);
    used.add(target);
  });
  const osDisk = disks.find((disk) => !isCdromDisk(disk));
  const order = [
    ...(osDisk === undefined ? [] : [osDisk]),
    ...disks.filter(isCdromDisk),
    ...(context === undefined ? [] : [context]),
    ...disks.filter((disk) => !isCdromDisk(disk) && disk !== osDisk),
  ];
  for (const disk of order) {
    if ((disk['TARGET'] ?? '') !== '' || (disk['TYPE'] ?? '').toUpperCase() === 'FILESYSTEM') continue;
    const explicit = disk['DEV_PREFIX'] || undefined;
    const prefix =
      disk === context
        ? (explicit ?? cdromPrefix)
        : (explicit ?? (isCdromDisk(disk) ? cdromPrefix : defaultPrefix));
    let n = 0;
    while (used.has(`${prefix}${letters(n)}`)) n++;
    disk['TARGET'] = `${prefix}${letters(n)}`;
    used.add(disk['TARGET']);
  }
  const hd = [...used].filter((target) => target.startsWith('hd')).length;
  if (!q35 && hd > 4)
    fail('DISK', `${hd} disks use the hd prefix; a non-q35 machine has room for 4 IDE devices`);
  const sd = [...used].filter((target) => target.startsWith('sd')).length;
  if (sd > 256) fail('DISK', `${sd} disks use the sd prefix; at most 256 are supported`);
}

// Turns OS/BOOT="disk0,nic1" into ORDER=1, ORDER=2 on those DISK/NIC entries.
function applyBootOrder(boot: string, disks: Record<string, string>[], nics: Record<string, string>[]): void {
  boot
    .split(',')
    .map((token) => token.trim())
    .filter((token) => token !== '')
    .forEach((token, position) => {
      const match = /^(DISK|NIC)(\d+)$/i.exec(token);
      if (match === null) fail('OS/BOOT', `${showValue(token)} is not DISK<n> or NIC<n>`);
      const [kind, id] = [match?.[1]?.toUpperCase(), match?.[2]];
      const list = kind === 'DISK' ? disks : nics;
      const entry = list.find((item) => item[kind === 'DISK' ? 'DISK_ID' : 'NIC_ID'] === id);
      if (entry === undefined) fail('OS/BOOT', `${showValue(token)} names no ${kind} with id ${id ?? ''}`);
      else entry['ORDER'] = String(position + 1);
    });
}

// Builds the Vm a template file describes, as oned would after instantiation.
export function createVmFromTemplate(template: Template, options: VmFromTemplateOptions): Vm {
  const copies = template.attributes.map((attribute): Attribute => {
    if (typeof attribute.value === 'string') return attribute;
    return { name: attribute.name, value: createVector(Object.entries(attribute.value)) };
  });
  const vectors = (name: string): Record<string, string>[] =>
    copies
      .filter((a) => a.name === name && typeof a.value !== 'string')
      .map((a) => a.value as Record<string, string>);
  const disks = vectors('DISK');
  const nics = vectors('NIC');
  const context = vectors('CONTEXT')[0];
  disks.forEach((disk, i) => {
    if ((disk['DISK_ID'] ?? '') === '') disk['DISK_ID'] = String(i);
  });
  if (context !== undefined && (context['DISK_ID'] ?? '') === '') context['DISK_ID'] = String(disks.length);
  nics.forEach((nic, i) => {
    if ((nic['NIC_ID'] ?? '') === '') nic['NIC_ID'] = String(i);
    if ((nic['TARGET'] ?? '') === '') nic['TARGET'] = `one-${options.vmId}-${nic['NIC_ID']}`;
  });
  assignTargets(disks, context, options);
  const os = vectors('OS')[0];
  const boot = os?.['BOOT'] ?? '';
  if (boot !== '' && disks.concat(nics).every((entry) => (entry['ORDER'] ?? '') === ''))
    applyBootOrder(boot, disks, nics);
  const result: Template = { attributes: copies };
  return {
    id: options.vmId,
    name: getSingle(result, 'NAME') ?? `one-${options.vmId}`,
    template: result,
    userTemplate: { attributes: [] },
  };
}
