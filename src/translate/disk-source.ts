// The <disk> element's type, device and <source> for each OpenNebula disk TYPE (reference §6.5).
import type { Vector } from '../template/model.js';
import { element, type XmlElement } from '../domain/xml.js';
import { TranslateError } from '../util/errors.js';
import type { TranslateContext } from './context.js';
import { isYes } from './lookup.js';
import { showValue } from '../util/show-value.js';

export interface DiskSource {
  readonly type: 'file' | 'block' | 'network';
  readonly device: 'disk' | 'cdrom';
  readonly source: XmlElement;
  readonly auth?: XmlElement | undefined;
  // Set when part of the template could not be expressed (extra hosts of a one-host protocol).
  readonly warning?: string | undefined;
}

const CDROM_TYPES = new Set(['CDROM', 'BLOCK_CDROM', 'RBD_CDROM', 'SHEEPDOG_CDROM', 'GLUSTER_CDROM']);

// The effective TYPE: upper-cased; a volatile disk (fs/swap) takes DISK_TYPE when set.
export function readDiskType(disk: Vector): string {
  const type = (disk['TYPE'] ?? '').toUpperCase();
  const diskType = (disk['DISK_TYPE'] ?? '').toUpperCase();
  if ((type === 'FS' || type === 'SWAP') && diskType !== '') return diskType;
  return type;
}

export function isCdrom(disk: Vector): boolean {
  return CDROM_TYPES.has(readDiskType(disk));
}

// Splits "host[:port] host2[:port]" into <host> elements, with a default port and transport.
function buildHosts(
  list: string | undefined,
  where: string,
  defaultPort?: string,
  transport?: string,
): XmlElement[] {
  return (list ?? '')
    .split(/\s+/)
    .filter((item) => item !== '')
    .map((item) => {
      const match = /^\[([^\]]+)\](?::(\d+))?$/.exec(item) ?? /^([^:]+)(?::(\d+))?$/.exec(item);
      if (match === null)
        throw new TranslateError(where, `expected 'host[:port]' items, got ${showValue(item)}`);
      return element('host', { name: match[1], port: match[2] ?? defaultPort, transport });
    });
}

// libvirt's schema gives iSCSI and Sheepdog sources exactly one <host>: the first is kept, the
// others are reported (oned writes them all, which libvirt rejects).
function firstHost(hosts: XmlElement[], where: string): { hosts: XmlElement[]; warning?: string } {
  const [first, ...rest] = hosts;
  if (first === undefined) throw new TranslateError(where, 'a host is required');
  if (rest.length === 0) return { hosts: [first] };
  return { hosts: [first], warning: `${where}: libvirt takes one host here, ${rest.length} more left out` };
}

function networkSource(protocol: string, name: string, hosts: XmlElement[]): XmlElement {
  return element('source', { protocol, name }, hosts);
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

// Builds the disk's source for its TYPE; `path` is <system dir>/disk.<DISK_ID>.
export function buildDiskSource(
  ctx: TranslateContext,
  disk: Vector,
  where: string,
  path: string,
): DiskSource {
  const type = readDiskType(disk);
  const device = CDROM_TYPES.has(type) ? 'cdrom' : 'disk';
  const clone = isYes(disk['CLONE']);
  const source = disk['SOURCE'] ?? '';
  const suffix = `-${ctx.vm.id}-${disk['DISK_ID'] ?? ''}`;
  switch (type) {
    case 'BLOCK':
    case 'BLOCK_CDROM':
      return { type: 'block', device, source: element('source', { dev: path }) };
    case 'ISCSI': {
      // CHAP needs both the user and the libvirt secret's usage name (as in oned).
      const user = disk['ISCSI_USER'] || undefined;
      const usage = disk['ISCSI_USAGE'] || undefined;
      const auth =
        user === undefined || usage === undefined
          ? undefined
          : element('auth', { username: user }, [element('secret', { type: 'iscsi', usage })]);
      const name = disk['ISCSI_IQN'] || source;
      const { hosts, warning } = firstHost(
        buildHosts(disk['ISCSI_HOST'], `${where}/ISCSI_HOST`, '3260'),
        `${where}/ISCSI_HOST`,
      );
      return { type: 'network', device, source: networkSource('iscsi', name, hosts), auth, warning };
    }
    case 'RBD':
    case 'RBD_CDROM': {
      const base = source !== '' ? source : `${disk['POOL_NAME'] || 'one'}/one-sys`;
      const name = clone || source === '' ? `${base}${suffix}` : base;
      const hosts = buildHosts(disk['CEPH_HOST'], `${where}/CEPH_HOST`, '6789');
      const user = disk['CEPH_USER'] || undefined;
      const secret = disk['CEPH_SECRET'] || undefined;
      const auth =
        user !== undefined && secret !== undefined
          ? element('auth', { username: user }, [element('secret', { type: 'ceph', uuid: secret })])
          : undefined;
      return { type: 'network', device, source: networkSource('rbd', name, hosts), auth };
    }
    case 'SHEEPDOG':
    case 'SHEEPDOG_CDROM': {
      const hostWhere = `${where}/SHEEPDOG_HOST`;
      const { hosts, warning } = firstHost(
        buildHosts(disk['SHEEPDOG_HOST'], hostWhere, undefined, 'tcp'),
        hostWhere,
      );
      const name = clone ? `${source}${suffix}` : source;
      return { type: 'network', device, source: networkSource('sheepdog', name, hosts), warning };
    }
    case 'GLUSTER':
    case 'GLUSTER_CDROM': {
      const volume = disk['GLUSTER_VOLUME'] ?? '';
      const name = `${volume}/${clone ? `${ctx.vm.id}/disk.${disk['DISK_ID'] ?? ''}` : basename(source)}`;
      const hosts = buildHosts(disk['GLUSTER_HOST'], `${where}/GLUSTER_HOST`, '24007', 'tcp');
      return { type: 'network', device, source: networkSource('gluster', name, hosts) };
    }
    case 'CDROM':
      if ((disk['DISK_TYPE'] ?? '').toUpperCase() === 'BLOCK') {
        return { type: 'block', device, source: element('source', { dev: path }) };
      }
      return { type: 'file', device, source: element('source', { file: path }) };
    default:
      return { type: 'file', device, source: element('source', { file: path }) };
  }
}
