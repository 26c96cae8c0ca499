// <iotune> for a disk from its own values, else the defaults' DISK values (reference §6.5).
import type { Vector } from '../template/model.js';
import { element, type XmlElement } from '../domain/xml.js';
import { TranslateError } from '../util/errors.js';
import type { TranslateContext } from './context.js';
import { showValue } from '../util/show-value.js';

// The 19 iotune attributes OpenNebula knows, as template keys.
export const IOTUNE_KEYS = [
  'TOTAL_BYTES_SEC', 'READ_BYTES_SEC', 'WRITE_BYTES_SEC',
  'TOTAL_IOPS_SEC', 'READ_IOPS_SEC', 'WRITE_IOPS_SEC',
  'TOTAL_BYTES_SEC_MAX', 'READ_BYTES_SEC_MAX', 'WRITE_BYTES_SEC_MAX',
  'TOTAL_IOPS_SEC_MAX', 'READ_IOPS_SEC_MAX', 'WRITE_IOPS_SEC_MAX',
  'TOTAL_BYTES_SEC_MAX_LENGTH', 'READ_BYTES_SEC_MAX_LENGTH', 'WRITE_BYTES_SEC_MAX_LENGTH',
  'TOTAL_IOPS_SEC_MAX_LENGTH', 'READ_IOPS_SEC_MAX_LENGTH', 'WRITE_IOPS_SEC_MAX_LENGTH',
  'SIZE_IOPS_SEC',
] as const; // prettier-ignore

export type IotuneValues = Partial<Record<(typeof IOTUNE_KEYS)[number], string>>;

// Builds <iotune> from raw values (undefined or '' = unset); values must be unsigned integers.
export function buildIotune(values: IotuneValues, where: string): XmlElement | undefined {
  const read = (key: (typeof IOTUNE_KEYS)[number]): number | undefined => {
    const value = values[key];
    if (value === undefined || value.trim() === '') return undefined;
    if (!/^\s*\d+\s*$/.test(value))
      throw new TranslateError(`${where}/${key}`, `must be an unsigned integer, got ${showValue(value)}`);
    return Number.parseInt(value, 10);
  };
  const children: XmlElement[] = [];
  let hasIops = false;
  for (const kind of ['BYTES', 'IOPS'] as const) {
    const useTotal = read(`TOTAL_${kind}_SEC`) !== undefined || read(`TOTAL_${kind}_SEC_MAX`) !== undefined;
    for (const prefix of useTotal ? (['TOTAL'] as const) : (['READ', 'WRITE'] as const)) {
      const sec = read(`${prefix}_${kind}_SEC`);
      const max = read(`${prefix}_${kind}_SEC_MAX`);
      const length = read(`${prefix}_${kind}_SEC_MAX_LENGTH`);
      const tag = `${prefix.toLowerCase()}_${kind.toLowerCase()}_sec`;
      if (sec !== undefined) children.push(element(tag, null, [String(sec)]));
      if (max !== undefined && max > (sec ?? 0)) {
        children.push(element(`${tag}_max`, null, [String(max)]));
        if (length !== undefined) children.push(element(`${tag}_max_length`, null, [String(length)]));
      }
      // QEMU's iops-size needs an average iops limit; a burst (_max) alone does not count.
      if (kind === 'IOPS' && sec !== undefined) hasIops = true;
    }
  }
  const size = read('SIZE_IOPS_SEC');
  if (size !== undefined && hasIops) children.push(element('size_iops_sec', null, [String(size)]));
  return children.length === 0 ? undefined : element('iotune', null, children);
}

// The iotune values of a disk at deployment: the disk's own, else DISK/<key> of the defaults.
export function readDiskIotune(ctx: TranslateContext, disk: Vector): IotuneValues {
  const values: IotuneValues = {};
  for (const key of IOTUNE_KEYS) {
    const value = disk[key] || ctx.look.defaultVector('DISK', key) || undefined;
    if (value !== undefined) values[key] = value;
  }
  return values;
}
