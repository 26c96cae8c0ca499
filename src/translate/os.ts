// <os>, <bootloader> and <pm> (reference §6.4 items 8, 9).
import { element, textElement, type XmlElement } from '../domain/xml.js';
import { TranslateError } from '../util/errors.js';
import { checkPath, type TranslateContext } from './context.js';
import { showValue } from '../util/show-value.js';

type Firmware =
  { readonly kind: 'bios' } | { readonly kind: 'uefi' } | { readonly kind: 'path'; readonly path: string };

// OS/FIRMWARE: empty or BIOS, UEFI (libvirt picks the firmware), or the path of a loader.
export function readFirmware(ctx: TranslateContext): Firmware {
  const value = (ctx.look.vector('OS', 'FIRMWARE') ?? '').trim();
  if (value === '' || value.toUpperCase() === 'BIOS') return { kind: 'bios' };
  if (value.toUpperCase() === 'UEFI') return { kind: 'uefi' };
  if (!value.startsWith('/')) {
    throw new TranslateError(
      'OS/FIRMWARE',
      `must be BIOS, UEFI or the absolute path of a firmware file, got ${showValue(value)}`,
    );
  }
  const allowed = (ctx.look.defaultSingle('OVMF_UEFIS') ?? '').split(/\s+/).filter((path) => path !== '');
  if (allowed.length === 0) {
    throw new TranslateError(
      'OS/FIRMWARE',
      `${showValue(value)} cannot be checked: no OVMF_UEFIS defined in the defaults`,
    );
  }
  if (!allowed.includes(value)) {
    throw new TranslateError(
      'OS/FIRMWARE',
      `${showValue(value)} is not one of the firmware files listed in OVMF_UEFIS`,
    );
  }
  return { kind: 'path', path: value };
}

// True when the firmware enforces secure boot (OS/FIRMWARE_SECURE=YES with a UEFI firmware).
export function isSecureBoot(ctx: TranslateContext): boolean {
  return readFirmware(ctx).kind !== 'bios' && ctx.look.vectorBool('OS', 'FIRMWARE_SECURE');
}

export function buildOs(ctx: TranslateContext, warnings: string[]): XmlElement[] {
  const firmware = readFirmware(ctx);
  const secure = isSecureBoot(ctx);
  const children: (XmlElement | undefined)[] = [
    element('type', { arch: ctx.arch, machine: ctx.machine }, ['hvm']),
  ];
  if (firmware.kind === 'uefi') {
    children.push(
      element('firmware', null, [
        element('feature', { enabled: secure ? 'yes' : 'no', name: 'secure-boot' }),
      ]),
    );
  } else if (firmware.kind === 'path') {
    // oned writes <nvram format="qcow2"> for FIRMWARE_FORMAT=qcow2, but libvirt 9.0's schema has
    // no format attribute on <loader> or <nvram> (added in 9.2): left out, with a warning.
    if ((ctx.look.vector('OS', 'FIRMWARE_FORMAT') ?? '').toLowerCase() === 'qcow2') {
      warnings.push(
        'OS/FIRMWARE_FORMAT: qcow2 cannot be written for libvirt 9.0, the format attribute is left out',
      );
    }
    const loader = { readonly: 'yes', secure: secure ? 'yes' : 'no', type: 'pflash' };
    children.push(element('loader', loader, [firmware.path]));
    // Named after the domain, not the VM NAME as oned does: a rename or a '/' cannot move it.
    children.push(element('nvram', null, [`${ctx.systemDir}/one-${ctx.vm.id}_VARS.fd`]));
  }
  const kernel = ctx.look.vector('OS', 'KERNEL') || undefined;
  let bootloader: XmlElement | undefined;
  if (kernel !== undefined) {
    children.push(textElement('kernel', checkPath('OS/KERNEL', kernel)));
    const initrd = ctx.look.vector('OS', 'INITRD') || undefined;
    children.push(textElement('initrd', initrd === undefined ? undefined : checkPath('OS/INITRD', initrd)));
    const root = ctx.look.vector('OS', 'ROOT') || undefined;
    const extra = ctx.look.vector('OS', 'KERNEL_CMD') ?? '';
    const cmdline = root === undefined ? extra : `root=/dev/${root} ${extra}`;
    if (cmdline !== '') children.push(textElement('cmdline', cmdline));
  } else {
    // libvirt's schema has <bootloader> at domain level, not inside <os>.
    bootloader = textElement('bootloader', ctx.look.vector('OS', 'BOOTLOADER') || undefined);
  }
  const os = element('os', { firmware: firmware.kind === 'uefi' ? 'efi' : undefined }, children);
  const pm =
    firmware.kind === 'path' && ctx.arch !== 'aarch64'
      ? element('pm', null, [
          element('suspend-to-mem', { enabled: 'no' }),
          element('suspend-to-disk', { enabled: 'no' }),
        ])
      : undefined;
  return [bootloader, os, pm].filter((node): node is XmlElement => node !== undefined);
}
