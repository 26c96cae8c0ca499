// snapshot_create / snapshot_revert / snapshot_delete (libvirt snapshots named snap-<id>), and the
// snapshot metadata kept beside the VM's files (<vm dir>/snap-<id>.xml) so that the snapshots can
// be redefined after the domain was recreated (deploy, restore) or moved (migrate): libvirt drops
// a transient domain's snapshot list when it stops, and refuses to migrate a domain that has one.
import { parseXmlFragment } from '../domain/parse-xml-fragment.js';
import { serializeXml, type XmlChild, type XmlElement } from '../domain/xml.js';
import { failAction } from '../util/errors.js';
import { showName, showValue } from '../util/show-value.js';
import { virsh, type ActionContext } from './context.js';

export interface SnapshotInput {
  readonly host: string;
  readonly domain: string;
}

// The snapshots of a domain as read before they were taken off it: names parents first.
export interface SnapshotSet {
  readonly names: readonly string[];
  readonly xml: ReadonlyMap<string, string>;
  readonly current?: string;
}

const ACTIVE_BLOCK_JOB = /active block job/i;
const BLOCK_JOB_TRIES = 3;
const BLOCK_JOB_WAIT_MS = 5000;

// Runs a virsh step, again (up to 3 times, 5 s apart) while libvirt says a block job is active.
async function whileBlockJob(
  ctx: ActionContext,
  host: string,
  step: string,
  args: string[],
): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    try {
      return (await ctx.runner.run(host, virsh(ctx, step, args))).stdout;
    } catch (error) {
      const text = error instanceof Error ? error.message : '';
      if (attempt >= BLOCK_JOB_TRIES || !ACTIVE_BLOCK_JOB.test(text)) throw error;
      ctx.log('I', `${step}: a block job is active on ${host}; trying again in ${BLOCK_JOB_WAIT_MS / 1000}s`);
      await ctx.sleep(BLOCK_JOB_WAIT_MS, ctx.signal);
    }
  }
}

export async function listSnapshots(ctx: ActionContext, host: string, domain: string): Promise<string[]> {
  const out = await ctx.runner.run(
    host,
    virsh(ctx, 'list snapshots', ['snapshot-list', '--name', '--topological', '--', domain]),
  );
  return out.stdout
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
}

// The directory of the VM's files, from the domain's OpenNebula metadata; undefined without one.
export async function readVmDirectory(
  ctx: ActionContext,
  host: string,
  domain: string,
): Promise<string | undefined> {
  const { metadataUri } = ctx.config;
  try {
    const out = await ctx.runner.run(
      host,
      virsh(ctx, 'read VM metadata', ['metadata', '--uri', metadataUri, '--', domain]),
    );
    const match = /<(?:[\w-]+:)?system_datastore>([^<]+)<\/(?:[\w-]+:)?system_datastore>/.exec(out.stdout);
    const dir = match?.[1]?.trim().replace(/\/+$/, '');
    return dir !== undefined && dir.startsWith('/') ? dir : undefined;
  } catch (error) {
    if (/metadata not found|no domain metadata/i.test(error instanceof Error ? error.message : ''))
      return undefined;
    throw error;
  }
}

async function dumpSnapshot(ctx: ActionContext, host: string, domain: string, name: string): Promise<string> {
  return (
    await ctx.runner.run(host, virsh(ctx, 'read snapshot XML', ['snapshot-dumpxml', '--', domain, name]))
  ).stdout;
}

async function writeFile(
  ctx: ActionContext,
  host: string,
  step: string,
  file: string,
  text: string,
): Promise<void> {
  await ctx.runner.run(host, {
    step,
    argv: ['sh', '-c', 'cat > "$1"', 'sh', file],
    stdin: text,
    signal: ctx.signal,
  });
}

function checkSnapshotName(name: string, what: string): void {
  if (!/^[A-Za-z0-9_.-]+$/.test(name)) failAction(`${what}: ${showValue(name)} is not a snapshot name`);
}

async function requireSnapshot(
  ctx: ActionContext,
  input: SnapshotInput,
  name: string,
  what: string,
): Promise<void> {
  const names = await listSnapshots(ctx, input.host, input.domain);
  if (!names.includes(name)) {
    failAction(
      `${what}: ${showName(input.domain)} on ${input.host} has no snapshot ${showValue(name)}` +
        ` (it has ${names.length === 0 ? 'none' : names.join(', ')}); nothing was changed`,
    );
  }
}

// Creates snapshot snap-<id> and keeps its XML in the VM directory; returns the name.
export async function createSnapshot(
  ctx: ActionContext,
  input: SnapshotInput & { readonly snapshotId: string },
): Promise<{ readonly name: string; readonly kept?: string }> {
  if (!/^\d+$/.test(input.snapshotId))
    failAction(`snapshot_create: the snapshot id must be a number, got ${showValue(input.snapshotId)}`);
  const name = `snap-${input.snapshotId}`;
  const what = `snapshot ${name} of ${showName(input.domain)} on ${input.host}`;
  const existing = await listSnapshots(ctx, input.host, input.domain);
  if (existing.includes(name))
    failAction(`${what}: a snapshot with that name exists already; nothing was changed`);
  const dir = await readVmDirectory(ctx, input.host, input.domain);
  await whileBlockJob(ctx, input.host, 'create snapshot', [
    'snapshot-create-as',
    '--name',
    name,
    '--',
    input.domain,
  ]);
  if (dir === undefined) {
    ctx.log('W', `${what}: the domain has no OpenNebula metadata, so the snapshot XML is not kept on disk`);
    return { name };
  }
  const file = `${dir}/${name}.xml`;
  await writeFile(
    ctx,
    input.host,
    'keep snapshot XML',
    file,
    await dumpSnapshot(ctx, input.host, input.domain, name),
  );
  return { name, kept: file };
}

export async function revertSnapshot(
  ctx: ActionContext,
  input: SnapshotInput & { readonly name: string },
): Promise<void> {
  const what = `snapshot_revert of ${showName(input.domain)} to ${showValue(input.name)}`;
  checkSnapshotName(input.name, what);
  await requireSnapshot(ctx, input, input.name, what);
  await whileBlockJob(ctx, input.host, 'revert to snapshot', [
    'snapshot-revert',
    '--force',
    '--',
    input.domain,
    input.name,
  ]);
}

export async function deleteSnapshot(
  ctx: ActionContext,
  input: SnapshotInput & { readonly name: string },
): Promise<void> {
  const what = `snapshot_delete of ${showValue(input.name)} of ${showName(input.domain)}`;
  checkSnapshotName(input.name, what);
  await requireSnapshot(ctx, input, input.name, what);
  const dir = await readVmDirectory(ctx, input.host, input.domain);
  await ctx.runner.run(
    input.host,
    virsh(ctx, 'delete snapshot', ['snapshot-delete', '--', input.domain, input.name]),
  );
  if (dir === undefined) return;
  await ctx.runner.run(input.host, {
    step: 'remove snapshot XML',
    argv: ['rm', '-f', '--', `${dir}/${input.name}.xml`],
    signal: ctx.signal,
  });
  // The children of the deleted snapshot have a new parent: keep their XML current.
  for (const name of await listSnapshots(ctx, input.host, input.domain)) {
    if (!name.startsWith('snap-')) continue;
    await writeFile(
      ctx,
      input.host,
      'keep snapshot XML',
      `${dir}/${name}.xml`,
      await dumpSnapshot(ctx, input.host, input.domain, name),
    );
  }
}

// Reads every snapshot of the domain and removes their metadata from libvirt (not the disk state).
export async function detachSnapshots(
  ctx: ActionContext,
  host: string,
  domain: string,
): Promise<SnapshotSet> {
  const names = await listSnapshots(ctx, host, domain);
  if (names.length === 0) return { names, xml: new Map() };
  const xml = new Map<string, string>();
  for (const name of names) xml.set(name, await dumpSnapshot(ctx, host, domain, name));
  let current: string | undefined;
  try {
    current = (
      await ctx.runner.run(
        host,
        virsh(ctx, 'read current snapshot', ['snapshot-current', '--name', '--', domain]),
      )
    ).stdout.trim();
  } catch {
    current = undefined;
  }
  // Children first, so no snapshot is re-parented on the way.
  for (const name of [...names].reverse())
    await ctx.runner.run(
      host,
      virsh(ctx, 'take snapshot metadata off', ['snapshot-delete', '--metadata', '--', domain, name]),
    );
  return { names, xml, ...(current === undefined || current === '' ? {} : { current }) };
}

// Redefines snapshots (parents first); returns one message per snapshot that could not be.
export async function redefineSnapshots(
  ctx: ActionContext,
  host: string,
  domain: string,
  set: SnapshotSet,
): Promise<string[]> {
  const failed: string[] = [];
  for (const name of set.names) {
    const text = set.xml.get(name);
    if (text === undefined) continue;
    const args = [
      'snapshot-create',
      '--redefine',
      ...(name === set.current ? ['--current'] : []),
      '--xmlfile',
      '/dev/stdin',
      '--',
      domain,
    ];
    try {
      await ctx.runner.run(host, virsh(ctx, 'redefine snapshot', args, { stdin: text }));
    } catch (error) {
      failed.push(
        `snapshot ${name} of ${showName(domain)} could not be redefined on ${host}: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }
  return failed;
}

// Puts `uuid` into the <domain> of a snapshot XML (a recreated domain has a new UUID).
export function withDomainUuid(snapshotXml: string, uuid: string): string {
  const parsed = parseXmlFragment(snapshotXml);
  if (!parsed.ok) return snapshotXml;
  const root = parsed.children.find((child): child is XmlElement => typeof child !== 'string');
  if (root === undefined) return snapshotXml;
  const replace = (node: XmlElement, inDomain: boolean): XmlElement => ({
    ...node,
    children: node.children.map((child: XmlChild): XmlChild => {
      if (typeof child === 'string') return child;
      if (inDomain && child.name === 'uuid') return { ...child, children: [uuid] };
      return replace(child, child.name === 'domain' && node.name === 'domainsnapshot');
    }),
  });
  return serializeXml(replace(root, false));
}

// A shell fragment that prints the kept snapshot files of the directory "$1", one per line.
export const LIST_KEPT_SNAPSHOTS =
  'for f in "$1"/snap-*.xml; do [ -f "$f" ] && printf "%s\\n" "$f"; done; exit 0';

// The kept snapshot files among the lines printed by LIST_KEPT_SNAPSHOTS, oldest first.
export function keptSnapshotFiles(listing: string): string[] {
  return listing
    .split('\n')
    .filter((line) => /\/snap-\d+\.xml$/.test(line))
    .sort((a, b) => snapNumber(a) - snapNumber(b));
}

// Redefines the snapshots kept in `files` (after deploy or restore); returns how many came back.
export async function redefineKeptSnapshots(
  ctx: ActionContext,
  host: string,
  domain: string,
  files: readonly string[],
): Promise<number> {
  if (files.length === 0) return 0;
  const uuid = (
    await ctx.runner.run(host, virsh(ctx, 'read domain uuid', ['domuuid', '--', domain]))
  ).stdout.trim();
  const names: string[] = [];
  const xml = new Map<string, string>();
  for (const file of files) {
    const name = /(snap-\d+)\.xml$/.exec(file)?.[1] ?? '';
    const text = (
      await ctx.runner.run(host, {
        step: 'read kept snapshot',
        argv: ['cat', '--', file],
        signal: ctx.signal,
      })
    ).stdout;
    names.push(name);
    xml.set(name, withDomainUuid(text, uuid));
  }
  const failed = await redefineSnapshots(ctx, host, domain, { names, xml });
  for (const message of failed) ctx.log('W', message);
  return names.length - failed.length;
}

function snapNumber(file: string): number {
  return Number(/snap-(\d+)\.xml$/.exec(file)?.[1] ?? 0);
}
