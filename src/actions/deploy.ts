// deploy: write the domain XML to the deployment file on the host, `virsh create` it, print its UUID.
// A domain that already runs under the same name is not created twice: its UUID is returned.
import type { RemoteStep } from '../host/runner.js';
import { readXmlRoot } from '../template/read-xml.js';
import { OnevmmError } from '../util/errors.js';
import { showName, showValue } from '../util/show-value.js';
import { virsh, type ActionContext } from './context.js';
import { parentDirectory } from '../template/action-paths.js';
import { readDomainState } from './domain-state.js';
import { keptSnapshotFiles, LIST_KEPT_SNAPSHOTS, redefineKeptSnapshots } from './snapshots.js';

export interface DeployInput {
  readonly host: string;
  readonly domainXml: string;
  // Where the XML is written on the host (REMOTE_DEPLOYMENT_FILE).
  readonly deploymentFile: string;
  // More files written beside it in the same command (oned's vm.xml and ds.xml), by file name.
  readonly companions?: Readonly<Record<string, string>>;
}

// The command that writes `files` ([path, text]) in one go and then lists the snapshots kept in
// `dir`: a fixed script, the paths and byte counts as its arguments, the texts one after the other
// on stdin, each read by `head -c <bytes>` (which reads no more than that).
export function writeFiles(
  dir: string,
  files: readonly (readonly [string, string])[],
): Pick<RemoteStep, 'argv' | 'stdin'> {
  return {
    argv: [
      'sh',
      '-c',
      WRITE_FILES,
      'sh',
      dir,
      ...files.flatMap(([path, text]) => [path, String(Buffer.byteLength(text, 'utf8'))]),
    ],
    stdin: files.map(([, text]) => text).join(''),
  };
}

const WRITE_FILES =
  'dir=$1; mkdir -p -- "$dir" || exit 1; shift; ' +
  'while [ $# -gt 0 ]; do head -c "$2" > "$1" || exit 1; shift 2; done; ' +
  'set -- "$dir"; ' +
  LIST_KEPT_SNAPSHOTS;

export interface DeployResult {
  readonly uuid: string;
  readonly name: string;
  // False when the domain was already running (idempotent deploy).
  readonly created: boolean;
}

// The <name> of a domain document (the deploy id libvirt will know it by).
export function readDomainName(domainXml: string): string {
  const root = readXmlRoot(domainXml, 'domain XML');
  if (root.name !== 'domain')
    throw new OnevmmError('ACTION', `domain XML: the root element is <${root.name}>, not <domain>`);
  const name = root.children.find((child) => child.name === 'name')?.text.trim() ?? '';
  if (name === '') throw new OnevmmError('ACTION', 'domain XML: <name> is missing or empty');
  // A name with line breaks or control characters would break virsh's line-based output.
  if (/[\p{Cc}\u2028\u2029]/u.test(name)) {
    throw new OnevmmError(
      'ACTION',
      `domain XML: the name ${showValue(name)} contains control characters or line breaks`,
    );
  }
  return name;
}

export async function deploy(ctx: ActionContext, input: DeployInput): Promise<DeployResult> {
  const name = readDomainName(input.domainXml);
  if (!input.deploymentFile.startsWith('/')) {
    throw new OnevmmError(
      'ACTION',
      `deploy: the deployment file must be an absolute path, got '${input.deploymentFile}'`,
    );
  }
  const state = await readDomainState(ctx, input.host, name);
  if (state !== 'absent' && state !== 'shut off') {
    ctx.log('I', `domain ${showName(name)} already runs on ${input.host}; not creating it again`);
    return { uuid: await readUuid(ctx, input.host, name), name, created: false };
  }
  const dir = parentDirectory(input.deploymentFile);
  const companions = Object.entries(input.companions ?? {});
  const written = await ctx.runner.run(input.host, {
    step: ['write deployment file', ...companions.map(([name]) => name)].join(', '),
    ...writeFiles(dir, [
      [input.deploymentFile, input.domainXml],
      ...companions.map(([name, text]): [string, string] => [`${dir}/${name}`, text]),
    ]),
    signal: ctx.signal,
  });
  await ctx.runner.run(input.host, virsh(ctx, 'create domain', ['create', '--', input.deploymentFile]));
  await redefineKept(ctx, input.host, name, keptSnapshotFiles(written.stdout));
  return { uuid: await readUuid(ctx, input.host, name), name, created: true };
}

async function readUuid(ctx: ActionContext, host: string, name: string): Promise<string> {
  const result = await ctx.runner.run(host, virsh(ctx, 'read domain uuid', ['domuuid', '--', name]));
  const uuid = result.stdout.trim();
  if (!/^[0-9a-f-]{36}$/i.test(uuid))
    throw new OnevmmError('ACTION', `virsh domuuid ${name} on ${host} printed '${uuid}', not a UUID`);
  return uuid;
}

// Snapshots kept beside the VM's files come back with the domain; a problem there is a warning,
// never a failed deploy or restore (the VM runs).
export async function redefineKept(
  ctx: ActionContext,
  host: string,
  domain: string,
  files: readonly string[],
): Promise<void> {
  if (files.length === 0) return;
  try {
    const count = await redefineKeptSnapshots(ctx, host, domain, files);
    ctx.log('I', `redefined ${count} of ${files.length} kept snapshot(s) of ${showName(domain)}`);
  } catch (error) {
    ctx.log(
      'W',
      `kept snapshots of ${showName(domain)} not redefined: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}
