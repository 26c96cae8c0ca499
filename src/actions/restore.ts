// restore: the domain from a checkpoint file. Disk paths in the saved XML are moved to the
// directory that holds the checkpoint (the VM may have changed system datastore), the XML goes
// back through `virsh restore --xml`, and the checkpoint files are removed.
import { parseXmlFragment } from '../domain/parse-xml-fragment.js';
import { serializeXml, type XmlChild, type XmlElement } from '../domain/xml.js';
import { OnevmmError } from '../util/errors.js';
import { showValue } from '../util/show-value.js';
import { virsh, type ActionContext } from './context.js';
import { parentDirectory } from '../template/action-paths.js';
import { SAVE_RESTORE_TIMEOUT } from './save.js';
import { syncGuestTime } from './guest-time.js';
import { keptSnapshotFiles, LIST_KEPT_SNAPSHOTS } from './snapshots.js';
import { readDomainName, redefineKept } from './deploy.js';

export interface RestoreInput {
  readonly host: string;
  readonly checkpointFile: string;
  readonly vmId: number;
}

// Rewrites every `<…>/<ds id>/<vmid>/<rest>` path in attributes and text to `<dir>/<rest>`.
export function relocatePaths(domainXml: string, vmId: number, dir: string): string {
  const parsed = parseXmlFragment(domainXml);
  if (!parsed.ok)
    throw new OnevmmError('ACTION', `the checkpoint's domain XML is not well-formed: ${parsed.reason}`);
  const pattern = new RegExp(`^/.*?/\\d+/${vmId}(/.*)?$`);
  const move = (value: string): string => {
    const match = pattern.exec(value);
    return match === null ? value : `${dir}${match[1] ?? ''}`;
  };
  const walk = (node: XmlChild): XmlChild => {
    if (typeof node === 'string') return move(node);
    return {
      name: node.name,
      attributes: node.attributes.map(
        ([key, value]) => [key, typeof value === 'string' ? move(value) : value] as const,
      ),
      children: node.children.map(walk),
    };
  };
  const root = parsed.children.find((child): child is XmlElement => typeof child !== 'string');
  if (root === undefined) throw new OnevmmError('ACTION', "the checkpoint's domain XML is empty");
  return serializeXml(walk(root) as XmlElement);
}

export async function restore(ctx: ActionContext, input: RestoreInput): Promise<void> {
  const file = input.checkpointFile;
  if (!file.startsWith('/')) {
    throw new OnevmmError(
      'ACTION',
      `restore: the checkpoint file must be an absolute path, got ${showValue(file)}`,
    );
  }
  const dumped = await ctx.runner.run(
    input.host,
    virsh(ctx, 'read checkpoint XML', ['save-image-dumpxml', '--', file]),
  );
  const xml = relocatePaths(dumped.stdout, input.vmId, parentDirectory(file));
  const written = await ctx.runner.run(input.host, {
    step: 'write checkpoint XML',
    // ...and list the snapshots kept beside the checkpoint (redefined once the domain runs).
    argv: [
      'sh',
      '-c',
      `cat > "$2" || exit 1; ${LIST_KEPT_SNAPSHOTS}`,
      'sh',
      parentDirectory(file),
      `${file}.xml`,
    ],
    stdin: xml,
    signal: ctx.signal,
  });
  const timeoutSeconds = Math.max(ctx.config.commandTimeout, SAVE_RESTORE_TIMEOUT);
  await ctx.runner.run(
    input.host,
    virsh(ctx, 'restore domain', ['restore', '--xml', `${file}.xml`, '--', file], { timeoutSeconds }),
  );
  const name = readDomainName(xml);
  await redefineKept(ctx, input.host, name, keptSnapshotFiles(written.stdout));
  await ctx.runner.run(input.host, {
    step: 'remove checkpoint',
    argv: ['rm', '-f', '--', file, `${file}.xml`],
    signal: ctx.signal,
  });
  await syncGuestTime(ctx, input.host, name);
}
