// <memory>, <maxMemory>, <currentMemory> (reference §6.4 item 7). MEMORY is in MiB; libvirt gets KiB.
import { element, textElement, type XmlElement } from '../domain/xml.js';
import { TranslateError } from '../util/errors.js';
import type { TranslateContext } from './context.js';
import { parseInteger } from './lookup.js';
import { showValue } from '../util/show-value.js';

// MEMORY in MiB; fails like OpenNebula when neither the VM nor the defaults give one.
export function readMemoryMib(ctx: TranslateContext): number {
  const raw = ctx.look.single('MEMORY');
  if (raw === undefined || raw.trim() === '') {
    throw new TranslateError('MEMORY', 'No MEMORY defined and no default provided.');
  }
  const memory = parseInteger(raw);
  if (memory === undefined || memory < 1)
    throw new TranslateError('MEMORY', `must be a positive integer (MiB), got ${showValue(raw)}`);
  return memory;
}

function readMemoryMax(ctx: TranslateContext, memory: number): number | undefined {
  const raw = ctx.look.single('MEMORY_MAX');
  if (raw === undefined || raw.trim() === '') return undefined;
  const max = parseInteger(raw);
  if (max === undefined)
    throw new TranslateError('MEMORY_MAX', `must be an integer (MiB), got ${showValue(raw)}`);
  return max > memory ? max : undefined;
}

// True when memory is resized by DIMM hotplug (MEMORY_RESIZE_MODE=HOTPLUG with MEMORY_MAX > MEMORY).
export function isMemoryHotplug(ctx: TranslateContext): boolean {
  const mode = (ctx.look.single('MEMORY_RESIZE_MODE') ?? '').toUpperCase();
  return mode === 'HOTPLUG' && readMemoryMax(ctx, readMemoryMib(ctx)) !== undefined;
}

export function buildMemory(ctx: TranslateContext, memory: number): XmlElement[] {
  const max = readMemoryMax(ctx, memory);
  if (max === undefined) return [element('memory', null, [String(memory * 1024)])];
  if (isMemoryHotplug(ctx)) {
    const elements = [element('memory', null, [String(memory * 1024)])];
    if (ctx.look.vmVector('TOPOLOGY') === undefined) {
      const slots = ctx.look.int('MEMORY_SLOTS') ?? 16;
      elements.push(element('maxMemory', { slots }, [String(max * 1024)]));
    }
    return elements;
  }
  return [
    element('memory', null, [String(max * 1024)]),
    element('currentMemory', null, [String(memory * 1024)]),
  ];
}

// <memoryBacking>: hugepages from TOPOLOGY/HUGEPAGE_SIZE (MiB), shared memfd for virtiofs disks.
export function buildMemoryBacking(ctx: TranslateContext, hasFilesystem: boolean): XmlElement | undefined {
  const hugepage = ctx.look.vmVector('TOPOLOGY')?.['HUGEPAGE_SIZE'] ?? '';
  if (hugepage === '' && !hasFilesystem) return undefined;
  let backing: XmlElement;
  if (hugepage !== '') {
    const size = parseInteger(hugepage);
    if (size === undefined || size < 1) {
      throw new TranslateError(
        'TOPOLOGY/HUGEPAGE_SIZE',
        `must be a positive integer (MiB), got ${showValue(hugepage)}`,
      );
    }
    backing = element('hugepages', null, [element('page', { size: size * 1024, unit: 'KiB' })]);
  } else {
    backing = element('source', { type: 'memfd' });
  }
  return element('memoryBacking', null, [backing, hasFilesystem && element('access', { mode: 'shared' })]);
}

// <launchSecurity> and <memtune> for MEMORY_ENCRYPTION=[TYPE=SEV|SEV-ES]; other types (SEV-SNP,
// TDX…) are left out with a warning, as oned does.
export function buildMemoryEncryption(
  ctx: TranslateContext,
  memory: number,
  warnings: string[],
): XmlElement[] {
  const type = (ctx.look.vmVector('MEMORY_ENCRYPTION')?.['TYPE'] ?? '').toUpperCase();
  if (type === '') return [];
  if (type !== 'SEV' && type !== 'SEV-ES') {
    warnings.push(
      `MEMORY_ENCRYPTION/TYPE: ${showValue(type)} is not supported (SEV or SEV-ES), encryption left out`,
    );
    return [];
  }
  const offset = parseInteger(ctx.look.vmSingle('MEMORY_TUNE_OFFSET')) ?? 256;
  return [
    element('launchSecurity', { type: 'sev' }, [
      textElement('policy', type === 'SEV' ? '0x00000003' : '0x00000007'),
    ]),
    element('memtune', null, [textElement('hard_limit', memory + offset, { unit: 'MiB' })]),
  ];
}
