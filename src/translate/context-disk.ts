// The context CD-ROM: CONTEXT with TARGET and DISK_ID becomes a read-only raw CD-ROM (reference §6.5).
import { element, type XmlElement } from '../domain/xml.js';
import { TranslateError } from '../util/errors.js';
import type { TranslateContext } from './context.js';
import { showValue } from '../util/show-value.js';

export function buildContextDisk(ctx: TranslateContext, warnings: string[]): XmlElement | undefined {
  const context = ctx.look.vmVector('CONTEXT');
  if (context === undefined) return undefined;
  const target = context['TARGET'] ?? '';
  const diskId = context['DISK_ID'] ?? '';
  if (target === '' || diskId === '') {
    warnings.push('CONTEXT: Could not find target device to attach context, it is left out');
    return undefined;
  }
  if (!/^[a-z]{3,}$/.test(target))
    throw new TranslateError('CONTEXT/TARGET', `Wrong target value: ${showValue(target)}`);
  if (!/^\d+$/.test(diskId))
    throw new TranslateError('CONTEXT/DISK_ID', `must be a non-negative integer, got ${showValue(diskId)}`);
  const path = `${ctx.systemDir}/disk.${diskId}`;
  const block = (ctx.options.systemDatastoreDiskType ?? '').toUpperCase() === 'BLOCK';
  return element('disk', { type: block ? 'block' : 'file', device: 'cdrom' }, [
    element('source', block ? { dev: path } : { file: path }),
    element('target', { dev: target, bus: ctx.isQ35 ? 'sata' : 'ide' }),
    element('readonly'),
    element('driver', { name: 'qemu', type: 'raw', cache: 'none' }),
  ]);
}
