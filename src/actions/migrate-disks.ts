// The disks a migration without shared storage copies (--copy-storage-all): the domain's writable
// file disks, and empty files of the same format and size created for them on the destination
// first (libvirt copies into existing files). Created files are removed again if the migration fails.
import { parseXmlFragment } from '../domain/parse-xml-fragment.js';
import type { XmlElement } from '../domain/xml.js';
import { OnevmmError } from '../util/errors.js';
import { showName, showValue } from '../util/show-value.js';
import { virsh, type ActionContext } from './context.js';

export interface CopyDisk {
  readonly target: string;
  readonly path: string;
  readonly format: string;
  readonly bytes: number;
}

const elements = (node: XmlElement, name: string): XmlElement[] =>
  node.children.filter((child): child is XmlElement => typeof child !== 'string' && child.name === name);

const attribute = (node: XmlElement | undefined, name: string): string | undefined => {
  const value = node?.attributes.find(([key]) => key === name)?.[1];
  return value === undefined ? undefined : String(value);
};

// The writable file disks of a domain XML: target, path and driver format.
export function writableFileDisks(domainXml: string): { target: string; path: string; format: string }[] {
  const parsed = parseXmlFragment(domainXml);
  if (!parsed.ok) throw new OnevmmError('ACTION', `the domain XML is not well-formed: ${parsed.reason}`);
  const domain = parsed.children.find((child): child is XmlElement => typeof child !== 'string');
  const devices = domain === undefined ? undefined : elements(domain, 'devices')[0];
  if (devices === undefined) return [];
  const disks: { target: string; path: string; format: string }[] = [];
  for (const disk of elements(devices, 'disk')) {
    if (attribute(disk, 'type') !== 'file' || attribute(disk, 'device') !== 'disk') continue;
    if (elements(disk, 'readonly').length > 0 || elements(disk, 'shareable').length > 0) continue;
    const path = attribute(elements(disk, 'source')[0], 'file');
    const target = attribute(elements(disk, 'target')[0], 'dev');
    if (path === undefined || target === undefined) continue;
    disks.push({ target, path, format: attribute(elements(disk, 'driver')[0], 'type') ?? 'raw' });
  }
  return disks;
}

export async function listCopyDisks(ctx: ActionContext, host: string, domain: string): Promise<CopyDisk[]> {
  const xml = (await ctx.runner.run(host, virsh(ctx, 'read domain XML', ['dumpxml', '--', domain]))).stdout;
  const disks: CopyDisk[] = [];
  for (const disk of writableFileDisks(xml)) {
    if (!disk.path.startsWith('/'))
      throw new OnevmmError(
        'ACTION',
        `disk ${disk.target} of ${showName(domain)}: ${showValue(disk.path)} is not an absolute path`,
      );
    const info = await ctx.runner.run(host, {
      step: 'read disk size',
      // -U: the image is open by the running VM.
      argv: ['qemu-img', 'info', '-U', '--output=json', disk.path],
      signal: ctx.signal,
    });
    const bytes = (JSON.parse(info.stdout) as { 'virtual-size'?: unknown })['virtual-size'];
    if (typeof bytes !== 'number')
      throw new OnevmmError('ACTION', `qemu-img info ${disk.path} on ${host} printed no virtual size`);
    disks.push({ ...disk, bytes });
  }
  return disks;
}

// Creates an empty file per disk on the destination; a file that exists already is an error
// (it could be the very disk, on storage the hosts share). Pushes what it created to `created`.
export async function prepareDestinationDisks(
  ctx: ActionContext,
  host: string,
  disks: readonly CopyDisk[],
  created: CopyDisk[],
): Promise<void> {
  for (const disk of disks) {
    try {
      await ctx.runner.run(host, {
        step: `create disk ${disk.target} for the copy`,
        argv: [
          'sh',
          '-c',
          'if [ -e "$1" ]; then echo "$1 exists already (shared storage? then do not copy storage)" >&2; exit 3; fi; ' +
            'mkdir -p -- "$(dirname -- "$1")" && qemu-img create -q -f "$2" "$1" "$3"',
          'sh',
          disk.path,
          disk.format,
          String(disk.bytes),
        ],
        signal: ctx.signal,
      });
    } catch (error) {
      if (error instanceof Error && /exists already/.test(error.message)) throw error;
      created.push(disk);
      throw error;
    }
    created.push(disk);
  }
}

export async function removeCreatedDisks(
  ctx: ActionContext,
  host: string,
  created: readonly CopyDisk[],
): Promise<void> {
  if (created.length === 0) return;
  try {
    await ctx.runner.run(host, {
      step: 'remove copied disks',
      argv: ['rm', '-f', '--', ...created.map((disk) => disk.path)],
    });
  } catch (error) {
    ctx.log(
      'W',
      `could not remove ${created.map((d) => d.path).join(', ')} on ${host}: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}
