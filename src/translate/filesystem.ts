// A FILESYSTEM disk: a host directory shared with the guest over virtiofs (reference §6.5).
import type { Vector } from '../template/model.js';
import { element, type XmlElement } from '../domain/xml.js';
import { TranslateError } from '../util/errors.js';
import { checkPath, type TranslateContext } from './context.js';
import { isYes } from './lookup.js';

export const VIRTIOFSD_WRAPPER = '/var/tmp/one/vmm/kvm/virtiofsd.sh';

export function buildFilesystem(_ctx: TranslateContext, disk: Vector, where: string): XmlElement {
  const source = checkPath(`${where}/SOURCE`, disk['SOURCE'] ?? '');
  const tag = disk['MOUNT_TAG'] ?? '';
  if (source === '')
    throw new TranslateError(`${where}/SOURCE`, 'a FILESYSTEM disk needs the host directory in SOURCE');
  if (tag === '') throw new TranslateError(`${where}/MOUNT_TAG`, 'a FILESYSTEM disk needs a MOUNT_TAG');
  return element('filesystem', { type: 'mount', accessmode: 'passthrough' }, [
    element('driver', { type: 'virtiofs', queue: 1024 }),
    element('binary', { path: VIRTIOFSD_WRAPPER, xattr: 'on' }, [
      element('cache', { mode: 'always' }),
      element('sandbox', { mode: 'namespace' }),
    ]),
    element('source', { dir: source }),
    element('target', { dir: tag }),
    isYes(disk['READONLY']) && element('readonly'),
    // oned adds <idmap> from DISK/UID_MAP and GID_MAP; libvirt 9.0's schema has no <idmap> in
    // <filesystem> (it arrived in 10.0), so the guest sees the host's ids.
  ]);
}
