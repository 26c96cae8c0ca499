// What a migration without shared storage copies. libvirt copies the domain's writable file disks
// (--copy-storage-all) into files that must exist on the destination first: empty ones of the same
// format and size are created for them. The rest of the VM's folder (the context CD-ROM, vm.xml,
// the snapshot folders and the links OpenNebula's ssh TM keeps there) is copied by the source host
// itself, straight to the destination over ssh, as `virsh migrate` with qemu+ssh already needs.
// Whatever was created on the destination is removed again if the migration fails.
import { parseXmlFragment } from '../domain/parse-xml-fragment.js';
import type { XmlElement } from '../domain/xml.js';
import { OnevmmError } from '../util/errors.js';
import { showName, showValue } from '../util/show-value.js';
import { quoteCommand } from '../host/quote.js';
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

// The folder OpenNebula keeps the VM's files in, from the domain's <one:system_datastore>.
export function systemDatastoreOf(domainXml: string): string | undefined {
  const match =
    /<one:system_datastore>\s*(?:<!\[CDATA\[)?([^<\]]*)(?:\]\]>)?\s*<\/one:system_datastore>/.exec(domainXml);
  const dir = match?.[1]?.trim();
  return dir === undefined || dir === '' || !dir.startsWith('/') ? undefined : dir;
}

export interface CopyPlan {
  readonly disks: CopyDisk[];
  // The VM's folder according to the domain (its OpenNebula metadata), if it has one.
  readonly systemDir: string | undefined;
}

export async function listCopyDisks(ctx: ActionContext, host: string, domain: string): Promise<CopyPlan> {
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
  return { disks, systemDir: systemDatastoreOf(xml) };
}

// What the migration created on the destination: the VM's folder (absent or empty before), and
// the disk files made for the copy.
export interface CreatedOnDestination {
  dir?: string;
  readonly disks: CopyDisk[];
}

// Lists the VM's folder on the source: its real path, the real paths of the writable disks, and
// every entry (relative, as `find -printf %P` prints it).
const LIST_FOLDER =
  'cd -- "$1" || exit 1; shift; printf "R %s\\n" "$(pwd -P)"; ' +
  'for d; do printf "D %s\\n" "$(readlink -f -- "$d")"; done; find . -mindepth 1 -printf "E %P\\n"';

// Copies the VM's folder `dir` from the source to the destination, but for the writable disks
// (libvirt copies those) and the deployment files: the folder must be absent or empty there, else the storage is shared
// and nothing is touched. Records the folder in `created` once it exists on the destination.
export async function copyVmFolder(
  ctx: ActionContext,
  input: { readonly source: string; readonly destination: string; readonly dir: string },
  disks: readonly CopyDisk[],
  created: CreatedOnDestination,
): Promise<void> {
  const { source, destination, dir } = input;
  if (!dir.startsWith('/') || /[\n\r]/.test(dir))
    throw new OnevmmError('ACTION', `the VM folder ${showValue(dir)} is not an absolute path`);
  await ctx.runner.run(destination, {
    step: 'create the VM folder',
    argv: [
      'sh',
      '-c',
      'if [ -e "$1" ] && [ -n "$(ls -A -- "$1")" ]; then echo "$1 is not empty on this host: is the system datastore shared? (then SHARED=YES, and no copy)" >&2; exit 3; fi; mkdir -p -- "$1"',
      'sh',
      dir,
    ],
    signal: ctx.signal,
  });
  created.dir = dir;
  const listing = await ctx.runner.run(source, {
    step: 'list the VM folder',
    argv: ['sh', '-c', LIST_FOLDER, 'sh', dir, ...disks.map((disk) => disk.path)],
    signal: ctx.signal,
  });
  const lines = listing.stdout.split('\n').filter((line) => line !== '');
  const real = lines.find((line) => line.startsWith('R '))?.slice(2) ?? dir;
  const copiedByLibvirt = new Set(lines.filter((line) => line.startsWith('D ')).map((line) => line.slice(2)));
  // The deployment file stays behind, as with OpenNebula's driver: it describes the domain as
  // the source had it, and oned writes a new one for the next deploy.
  const entries = lines
    .filter((line) => line.startsWith('E '))
    .map((line) => line.slice(2))
    .filter((entry) => !copiedByLibvirt.has(`${real}/${entry}`) && !/^deployment\.\d+$/.test(entry));
  if (entries.length === 0) return;
  await ctx.runner.run(source, {
    step: `copy the VM folder to ${destination}`,
    argv: [
      'sh',
      '-c',
      'tar -C "$1" -cf - --no-recursion --verbatim-files-from -T - | ssh -o BatchMode=yes -- "$2" "$3"',
      'sh',
      dir,
      destination,
      quoteCommand(['tar', '-C', dir, '-xf', '-']),
    ],
    stdin: entries.map((entry) => `./${entry}\n`).join(''),
    // The files can be large (an installation ISO): as long as a migration may take.
    timeoutSeconds: Math.max(ctx.config.commandTimeout, ctx.config.migrateTimeout),
    signal: ctx.signal,
  });
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

// Removes what the migration created on the destination: the VM's folder (it was empty or absent
// before), and the disk files made for the copy.
export async function removeCreated(
  ctx: ActionContext,
  host: string,
  created: CreatedOnDestination,
): Promise<void> {
  const dir = created.dir;
  const disks = created.disks.filter((disk) => dir === undefined || !disk.path.startsWith(`${dir}/`));
  if (dir === undefined && disks.length === 0) return;
  const what = [...(dir === undefined ? [] : [dir]), ...disks.map((disk) => disk.path)];
  try {
    if (disks.length > 0)
      await ctx.runner.run(host, {
        step: 'remove copied disks',
        argv: ['rm', '-f', '--', ...disks.map((d) => d.path)],
      });
    if (dir !== undefined)
      await ctx.runner.run(host, { step: 'remove the copied VM folder', argv: ['rm', '-rf', '--', dir] });
  } catch (error) {
    ctx.log(
      'W',
      `could not remove ${what.join(', ')} on ${host}: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}
