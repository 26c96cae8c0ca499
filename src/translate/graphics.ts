// <graphics>, <video> and <input> (reference §6.7).
import { randomBytes } from 'node:crypto';
import { element, type XmlChild, type XmlElement } from '../domain/xml.js';
import { TranslateError } from '../util/errors.js';
import type { TranslateContext } from './context.js';
import { isYes } from './lookup.js';
import { parseOptionFragment } from './raw.js';
import { showValue } from '../util/show-value.js';

// A random password of `length` characters from [A-Za-z0-9].
export function generatePassword(length: number): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return [...randomBytes(length)].map((byte) => alphabet[byte % alphabet.length]).join('');
}

// Only the first GRAPHICS counts, and only a VM with GRAPHICS gets a console: the defaults fill
// in its keys but never add one. PORT comes from the VM only (oned assigns it).
export function buildGraphics(ctx: TranslateContext, warnings: string[]): XmlChild[] {
  const vmGraphics = ctx.look.vmVector('GRAPHICS');
  if (vmGraphics === undefined) return [];
  const type = (ctx.look.vector('GRAPHICS', 'TYPE') ?? '').toLowerCase();
  if (type !== 'vnc' && type !== 'spice') {
    warnings.push(`GRAPHICS/TYPE: ${showValue(type)} is not supported (vnc or spice), graphics left out`);
    return [];
  }
  const port = vmGraphics?.['PORT'] || undefined;
  if (port !== undefined && !/^-?\d+$/.test(port)) {
    throw new TranslateError('GRAPHICS/PORT', `must be an integer, got ${showValue(port)}`);
  }
  let passwd = ctx.look.vector('GRAPHICS', 'PASSWD') || undefined;
  if (passwd === undefined && ctx.look.vectorBool('GRAPHICS', 'RANDOM_PASSWD')) {
    passwd = (ctx.options.generatePassword ?? generatePassword)(type === 'vnc' ? 8 : 59);
  }
  const graphics = element('graphics', {
    type,
    listen: ctx.look.vector('GRAPHICS', 'LISTEN') || undefined,
    port,
    passwd,
    keymap: ctx.look.vector('GRAPHICS', 'KEYMAP') || undefined,
  });
  if (type !== 'spice') return [graphics];
  const options = parseOptionFragment(ctx, 'SPICE_OPTIONS', ctx.look.single('SPICE_OPTIONS'));
  const usb = usbControllerFor(options);
  return usb === undefined ? [graphics, ...options] : [graphics, ...options, usb];
}

// SPICE's USB redirection needs a USB controller. libvirt's qemu driver adds the machine's
// default one, but it validates redirdevs without it elsewhere (test driver), so the implicit
// controller is written out: no model, so libvirt still picks the machine's default.
function usbControllerFor(options: readonly XmlChild[]): XmlElement | undefined {
  const elements = options.filter((node): node is XmlElement => typeof node !== 'string');
  const isUsbController = (node: XmlElement): boolean =>
    node.name === 'controller' && node.attributes.some(([name, value]) => name === 'type' && value === 'usb');
  if (!elements.some((node) => node.name === 'redirdev') || elements.some(isUsbController)) return undefined;
  return element('controller', { type: 'usb', index: 0 });
}

// <video> for a VM with VIDEO (the defaults fill in its keys but never add one); the model is lower-cased.
export function buildVideo(ctx: TranslateContext): XmlElement | undefined {
  if (ctx.look.vmVector('VIDEO') === undefined) return undefined;
  const type = (ctx.look.vector('VIDEO', 'TYPE') || undefined)?.toLowerCase();
  if (type === undefined) return undefined;
  const vram = ctx.look.vector('VIDEO', 'VRAM') || undefined;
  if (vram !== undefined && !/^\d+$/.test(vram))
    throw new TranslateError('VIDEO/VRAM', `must be an integer (KiB), got ${showValue(vram)}`);
  const resolution = ctx.look.vector('VIDEO', 'RESOLUTION') || undefined;
  let size: XmlElement | undefined;
  if (resolution !== undefined && type !== 'none' && type !== 'cirrus') {
    const match = /^(\d+)x(\d+)$/.exec(resolution);
    if (match === null)
      throw new TranslateError('VIDEO/RESOLUTION', `must be WIDTHxHEIGHT, got ${showValue(resolution)}`);
    size = element('resolution', { x: match[1], y: match[2] });
  }
  const virtio = type === 'virtio';
  const iommu = virtio && isYes(ctx.look.vector('VIDEO', 'IOMMU'));
  const ats = virtio && isYes(ctx.look.vector('VIDEO', 'ATS'));
  return element('video', null, [
    (iommu || ats) && element('driver', { iommu: iommu ? 'on' : undefined, ats: ats ? 'on' : undefined }),
    element(
      'model',
      { type, vram: vram !== undefined && Number(vram) >= 1024 && type !== 'none' ? vram : undefined },
      [size],
    ),
  ]);
}

// Only the first INPUT counts.
export function buildInput(ctx: TranslateContext): XmlElement | undefined {
  const input = ctx.look.vmVectors('INPUT')[0];
  const type = input?.['TYPE'] || undefined;
  if (type === undefined) return undefined;
  return element('input', { type, bus: input?.['BUS'] || undefined });
}
