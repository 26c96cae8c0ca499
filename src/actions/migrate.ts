// migrate / migrate_local: live migration of a domain to another host, as one transaction.
// Success only when the domain runs on the destination and is gone from the source, both read
// back. A migration past MIGRATE_TIMEOUT (or cancelled) is aborted with `virsh domjobabort`;
// on any failure the domain is checked to run on the source again and whatever reached the
// destination (domain, disk files created for it) is removed. Snapshot metadata, which libvirt
// refuses to migrate, is taken off the source first and redefined wherever the domain ends up.
import { classifyError } from '../host/classify.js';
import type { CommandResult, RemoteStep } from '../host/runner.js';
import { failAction, OnevmmError } from '../util/errors.js';
import { showName, showValue } from '../util/show-value.js';
import { destroyDomain } from './cancel.js';
import { syncGuestTime } from './guest-time.js';
import { virsh, type ActionContext } from './context.js';
import { isStopped, readDomainState, type DomainState } from './domain-state.js';
import { detachSnapshots, redefineSnapshots, type SnapshotSet } from './snapshots.js';
import {
  copyVmFolder,
  listCopyDisks,
  prepareDestinationDisks,
  removeCreated,
  type CopyDisk,
  type CreatedOnDestination,
} from './migrate-disks.js';

export interface MigrateInput {
  readonly source: string;
  readonly destination: string;
  readonly domain: string;
  // Where `virsh migrate` runs: on the source host (migrate), or on this machine connecting to
  // $QEMU_PROTOCOL://<source>/system (migrate_local).
  readonly driveFrom: 'source' | 'front-end';
  // Per-VM flags (FEATURES/MIGRATE_AUTO_CONVERGE, MIGRATE_COMPRESSED).
  readonly vmOptions?: readonly string[];
  // Copy the writable disks (system datastore not shared): --copy-storage-all into files
  // created on the destination first, and the rest of the VM's folder.
  readonly copyStorage?: boolean;
  // The VM's folder (the same path on both hosts), from oned's payload; by default the domain's
  // <one:system_datastore>. Only copied with copyStorage.
  readonly vmDir?: string;
  readonly onProgress?: (progress: MigrationProgress) => void;
}

export interface MigrationProgress {
  readonly elapsedSeconds: number;
  // From `virsh domjobinfo`; absent until libvirt reports them.
  readonly percent?: number;
  readonly remainingMiB?: number;
  readonly totalMiB?: number;
}

export interface MigrateResult {
  // 'migrated', or 'already' when the domain was found on the destination and not on the source.
  readonly outcome: 'migrated' | 'already';
  readonly seconds: number;
  readonly snapshots: number;
}

// Seconds between two `virsh domjobinfo` reads while a migration runs.
export const PROGRESS_INTERVAL_SECONDS = 2;
// Time the host's `timeout` gives virsh migrate beyond MIGRATE_TIMEOUT (domjobabort comes first).
const ABORT_GRACE_SECONDS = 30;

// Host names and addresses only: the destination is pasted into a libvirt URI.
const HOST_PATTERN = /^(?:[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?\.?|\[[0-9A-Fa-f:.]+\])$/;

function sameHost(a: string, b: string): boolean {
  const norm = (host: string): string => host.trim().toLowerCase().replace(/\.$/, '');
  return norm(a) === norm(b);
}

export function destinationUri(ctx: ActionContext, host: string): string {
  return `${ctx.config.qemuProtocol}://${host}/system`;
}

export async function migrate(ctx: ActionContext, input: MigrateInput): Promise<MigrateResult> {
  const { source, destination, domain } = input;
  const what = `migration of ${showName(domain)} from ${source} to ${destination}`;
  if (!HOST_PATTERN.test(destination))
    failAction(`${what}: the destination ${showValue(destination)} is not a host name or address`);
  if (sameHost(source, destination))
    failAction(`${what}: the destination is the source host; nothing was changed`);
  const started = ctx.now();
  // Both hosts at once: each is its own SSH connection.
  const [sourceState, destinationState] = await Promise.all([
    readDomainState(ctx, source, domain),
    readDomainState(ctx, destination, domain),
  ]);
  if (isStopped(sourceState)) {
    if (destinationState === 'running') {
      ctx.log('I', `${showName(domain)} already runs on ${destination} and not on ${source}: nothing to do`);
      return { outcome: 'already', seconds: 0, snapshots: 0 };
    }
    failAction(`${what}: the domain is ${sourceState} on ${source}; nothing to migrate`);
  }
  if (!isStopped(destinationState)) {
    failAction(
      `${what}: a domain named ${showName(domain)} is already ${destinationState} on ${destination}; ` +
        'refusing to start a second copy (nothing was changed)',
    );
  }
  const copyStorage =
    input.copyStorage === true || ctx.config.migrateOptions.some((o) => o.startsWith('--copy-storage'));
  const plan = copyStorage ? await listCopyDisks(ctx, source, domain) : { disks: [], systemDir: undefined };
  const { disks } = plan;
  const vmDir = input.vmDir ?? plan.systemDir;
  const snapshots = await detachSnapshots(ctx, source, domain);
  const created: CreatedOnDestination = { disks: [] };
  let failure: unknown;
  try {
    if (copyStorage && vmDir !== undefined)
      await copyVmFolder(ctx, { source, destination, dir: vmDir }, disks, created);
    if (copyStorage) await prepareDestinationDisks(ctx, destination, disks, created.disks);
    await runMigration(ctx, input, copyStorage, disks);
  } catch (error) {
    failure = error;
  }
  // A paused VM stays paused (libvirt keeps the state across the migration).
  const expected = sourceState === 'paused' ? 'paused' : 'running';
  const { where, unchecked } = await settle(ctx, input, failure, created, expected);
  if (where === 'source') {
    await restoreSnapshots(ctx, source, domain, snapshots);
    throw migrationError(what, failure, unchecked);
  }
  if (failure !== undefined) {
    ctx.log('W', `${what}: virsh reported a failure, but the domain now runs on ${destination} only`);
  }
  await restoreSnapshots(ctx, destination, domain, snapshots);
  await syncGuestTime(ctx, destination, domain);
  return {
    outcome: 'migrated',
    seconds: Math.round((ctx.now() - started) / 100) / 10,
    snapshots: snapshots.names.length,
  };
}

function migrationError(what: string, failure: unknown, unchecked: string | undefined): OnevmmError {
  const reason = failure instanceof Error ? failure.message : 'the domain did not reach the destination';
  const code = failure instanceof OnevmmError ? failure.code : 'ACTION';
  const destination =
    unchecked === undefined
      ? 'nothing is left on the destination'
      : `the destination could not be checked for a leftover (${unchecked}; libvirt there drops an incoming domain whose migration failed)`;
  return new OnevmmError(
    code,
    `${what} failed; the VM still runs on the source and ${destination}: ${reason}`,
    {
      cause: failure,
    },
  );
}

// The `virsh migrate` words after the connection.
export function migrateArguments(
  ctx: ActionContext,
  input: MigrateInput,
  copyStorage: boolean,
  disks: readonly CopyDisk[],
): string[] {
  const options = [...ctx.config.migrateOptions, ...(input.vmOptions ?? [])];
  const args = ['migrate', '--live', ...options];
  if (copyStorage) {
    if (!options.some((o) => o.startsWith('--copy-storage'))) args.push('--copy-storage-all');
    if (disks.length > 0 && !options.includes('--migrate-disks'))
      args.push('--migrate-disks', disks.map((disk) => disk.target).join(','));
  }
  return [...args, '--', input.domain, destinationUri(ctx, input.destination)];
}

// Runs virsh migrate, with progress reads and domjobabort on timeout or cancel.
async function runMigration(
  ctx: ActionContext,
  input: MigrateInput,
  copyStorage: boolean,
  disks: readonly CopyDisk[],
): Promise<void> {
  const timeout = ctx.config.migrateTimeout;
  const args = migrateArguments(ctx, input, copyStorage, disks);
  // The command itself is not tied to ctx.signal: a cancel aborts the job (below), and virsh
  // then returns with libvirt's "canceled by client"; killing virsh would leave the job running.
  const limits = { timeoutSeconds: timeout + ABORT_GRACE_SECONDS, retry: false } as const;
  let run: Promise<CommandResult>;
  if (input.driveFrom === 'source') {
    run = ctx.runner.run(input.source, {
      ...virsh(ctx, 'migrate domain', args),
      ...limits,
      signal: undefined,
    });
  } else {
    const local = ctx.local ?? failAction('migrate_local: no local runner to run virsh on this machine');
    const sourceUri = destinationUri(ctx, input.source);
    const step: RemoteStep = {
      step: 'migrate domain',
      argv: ['virsh', '--connect', sourceUri, ...args],
      ...limits,
    };
    run = local.run('front-end', step);
  }
  const done = new AbortController();
  let aborting: Promise<void> | undefined;
  const abort = (why: string): void => {
    if (aborting !== undefined || done.signal.aborted) return;
    ctx.log('W', `${why}: aborting the migration of ${showName(input.domain)} (virsh domjobabort)`);
    aborting = abortJob(ctx, input.source, input.domain);
  };
  const timer = setTimeout(() => abort(`no end after MIGRATE_TIMEOUT=${timeout}s`), timeout * 1000);
  const onCancel = (): void => abort('cancelled');
  ctx.signal?.addEventListener('abort', onCancel, { once: true });
  if (ctx.signal?.aborted === true) onCancel();
  const progress = watchProgress(ctx, input, done.signal);
  try {
    await run;
  } catch (error) {
    if (aborting !== undefined) {
      await aborting;
      const reason = ctx.signal?.aborted === true ? 'cancelled' : `MIGRATE_TIMEOUT=${timeout}s reached`;
      throw new OnevmmError(
        ctx.signal?.aborted === true ? 'CANCELLED' : 'TIMEOUT',
        `${reason}, the job was aborted: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    }
    throw error;
  } finally {
    clearTimeout(timer);
    ctx.signal?.removeEventListener('abort', onCancel);
    done.abort();
    await progress;
  }
}

async function abortJob(ctx: ActionContext, host: string, domain: string): Promise<void> {
  try {
    await ctx.runner.run(
      host,
      virsh(ctx, 'abort migration job', ['domjobabort', '--', domain], { signal: undefined }),
    );
  } catch (error) {
    // No job any more (it just ended) is fine; the settle step reads the real state.
    ctx.log('W', `domjobabort on ${host}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

// Parses `virsh domjobinfo` ("Data remaining:   12.500 MiB" lines).
export function parseJobInfo(text: string): { remainingMiB?: number; totalMiB?: number; percent?: number } {
  const read = (label: string): number | undefined => {
    const match = new RegExp(`^${label}:\\s+([\\d.]+)\\s*(B|KiB|MiB|GiB|TiB)\\s*$`, 'm').exec(text);
    if (match === null) return undefined;
    const scale: Record<string, number> = { B: 1 / 1048576, KiB: 1 / 1024, MiB: 1, GiB: 1024, TiB: 1048576 };
    return Number(match[1]) * (scale[match[2] ?? 'MiB'] ?? 1);
  };
  const total = read('Data total');
  const remaining = read('Data remaining');
  const result: { remainingMiB?: number; totalMiB?: number; percent?: number } = {};
  if (total !== undefined) result.totalMiB = total;
  if (remaining !== undefined) result.remainingMiB = remaining;
  if (total !== undefined && remaining !== undefined && total > 0)
    result.percent = Math.max(0, Math.min(100, Math.round((100 * (total - remaining)) / total)));
  return result;
}

async function watchProgress(ctx: ActionContext, input: MigrateInput, stop: AbortSignal): Promise<void> {
  const started = ctx.now();
  for (;;) {
    try {
      await ctx.sleep(PROGRESS_INTERVAL_SECONDS * 1000, stop);
    } catch {
      return;
    }
    try {
      const info = await ctx.runner.run(
        input.source,
        virsh(ctx, 'read migration progress', ['domjobinfo', '--', input.domain], {
          signal: stop,
          retry: false,
          timeoutSeconds: 10,
        }),
      );
      const progress: MigrationProgress = {
        elapsedSeconds: Math.round((ctx.now() - started) / 1000),
        ...parseJobInfo(info.stdout),
      };
      input.onProgress?.(progress);
      if (progress.percent !== undefined)
        ctx.log('D', `migration of ${showName(input.domain)}: ${progress.percent}%`);
    } catch {
      if (stop.aborted) return;
      // A missed progress read changes nothing.
    }
  }
}

type Reading = DomainState | { readonly error: unknown };

async function tryState(ctx: ActionContext, host: string, domain: string): Promise<Reading> {
  try {
    return await readDomainState(ctx, host, domain);
  } catch (error) {
    return { error };
  }
}

const describe = (reading: Reading): string =>
  typeof reading === 'string' ? reading : `unknown (${errorText(reading.error)})`;

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

// After the migrate command: where does the domain run? On failure, makes sure it runs on the
// source only (resume there, destroy on the destination, remove created disks).
async function settle(
  ctx: ActionContext,
  input: MigrateInput,
  failure: unknown,
  created: CreatedOnDestination,
  expected: DomainState,
): Promise<{ readonly where: 'source' | 'destination'; readonly unchecked?: string }> {
  const { source, destination, domain } = input;
  // The checks must run even when the action was cancelled.
  const plain: ActionContext = { ...ctx, signal: undefined };
  const what = `migration of ${showName(domain)} from ${source} to ${destination}`;
  const [src, dst] = await Promise.all([
    tryState(plain, source, domain),
    tryState(plain, destination, domain),
  ]);
  if (failure === undefined && typeof src === 'string' && isStopped(src) && dst === expected)
    return { where: 'destination' };
  if (typeof src === 'string' && !isStopped(src)) {
    // The source still has it: that copy is the VM; anything on the destination goes.
    let unchecked: string | undefined;
    if (typeof dst !== 'string' || !isStopped(dst))
      unchecked = await removeFromDestination(plain, input, dst);
    await removeCreated(plain, destination, created);
    if (src === 'paused' && expected === 'running') {
      ctx.log('I', `${showName(domain)} is paused on ${source} after the failed migration: resuming it`);
      await plain.runner.run(source, virsh(plain, 'resume domain', ['resume', '--', domain]));
    }
    const again = await readDomainState(plain, source, domain);
    if (again !== expected)
      failAction(`${what} failed and the domain is ${again} on ${source}: check it by hand`);
    return unchecked === undefined ? { where: 'source' } : { where: 'source', unchecked };
  }
  if (typeof src === 'string' && isStopped(src) && dst === expected) return { where: 'destination' };
  throw new OnevmmError(
    'ACTION',
    `${what}: the domain is ${describe(src)} on ${source} and ${describe(dst)} on ${destination}; ` +
      `check both hosts by hand${failure === undefined ? '' : `. virsh migrate: ${errorText(failure)}`}`,
    { cause: failure },
  );
}

// Destroys what reached the destination; returns why it could not be checked, if it could not.
async function removeFromDestination(
  ctx: ActionContext,
  input: MigrateInput,
  state: Reading,
): Promise<string | undefined> {
  const { destination, domain } = input;
  try {
    if (state !== 'shut off') await destroyDomain(ctx, destination, domain);
    // A --persistent migration may have defined it there.
    const after = await readDomainState(ctx, destination, domain);
    if (after === 'shut off')
      await ctx.runner.run(
        destination,
        virsh(ctx, 'undefine leftover', ['undefine', '--keep-nvram', '--', domain]),
      );
    ctx.log('I', `removed the incomplete copy of ${showName(domain)} from ${destination}`);
    return undefined;
  } catch (error) {
    // Unreachable destination: libvirt there drops an incoming domain whose migration failed.
    ctx.log('W', `could not check ${destination} for a leftover of ${showName(domain)}: ${errorText(error)}`);
    if (classifyError(error) !== 'transport') throw error;
    return errorText(error);
  }
}

async function restoreSnapshots(
  ctx: ActionContext,
  host: string,
  domain: string,
  set: SnapshotSet,
): Promise<void> {
  if (set.names.length === 0) return;
  const failed = await redefineSnapshots({ ...ctx, signal: undefined }, host, domain, set);
  for (const message of failed) ctx.log('W', message);
}
