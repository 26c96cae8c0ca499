// <features>, <clock> and the guest agent channel (reference §6.4 items 14-16).
import { element, type XmlChild, type XmlElement } from '../domain/xml.js';
import type { TranslateContext } from './context.js';
import { isSecureBoot, readFirmware } from './os.js';
import { parseOptionFragment } from './raw.js';

export function buildFeatures(ctx: TranslateContext): XmlElement | undefined {
  const on = (key: string): boolean => ctx.look.vectorBool('FEATURES', key);
  const secure = isSecureBoot(ctx);
  const gic = ctx.look.vector('FEATURES', 'GIC') || undefined;
  const acpi = on('ACPI') && (ctx.arch !== 'aarch64' || readFirmware(ctx).kind !== 'bios');
  const children: (XmlChild | false | undefined)[] = [
    on('PAE') && element('pae'),
    acpi && element('acpi'),
    on('APIC') && element('apic'),
    on('HYPERV') &&
      element('hyperv', null, parseOptionFragment(ctx, 'HYPERV_OPTIONS', ctx.look.single('HYPERV_OPTIONS'))),
    secure && element('smm', { state: 'on' }),
    gic !== undefined && element('gic', { version: gic }),
    on('RAS') && element('ras', { state: 'on' }),
  ];
  if (!on('PAE') && !acpi && !on('APIC') && !on('HYPERV') && !secure && gic === undefined && !on('RAS'))
    return undefined;
  return element('features', null, children);
}

export function buildClock(ctx: TranslateContext): XmlElement | undefined {
  const localtime = ctx.look.vectorBool('FEATURES', 'LOCALTIME');
  const hyperv = ctx.look.vectorBool('FEATURES', 'HYPERV');
  if (!localtime && !hyperv) return undefined;
  const timers = hyperv ? parseOptionFragment(ctx, 'HYPERV_TIMERS', ctx.look.single('HYPERV_TIMERS')) : [];
  return element('clock', { offset: localtime ? 'localtime' : 'utc' }, timers);
}

// The qemu guest agent's virtio channel, when FEATURES/GUEST_AGENT=YES.
export function buildGuestAgent(ctx: TranslateContext): XmlElement | undefined {
  if (!ctx.look.vectorBool('FEATURES', 'GUEST_AGENT')) return undefined;
  return element('channel', { type: 'unix' }, [
    element('source', { mode: 'bind' }),
    element('target', { type: 'virtio', name: 'org.qemu.guest_agent.0' }),
  ]);
}
