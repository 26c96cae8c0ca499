// The action executables after deployment (reference §3.2): migrate, migrate_local, hot-plug,
// snapshots, resize, context CD-ROM. Arguments are OpenNebula's, with `<vmid> <host>` appended.
import type { ActionContext } from '../actions/context.js';
import type { MigrationProgress } from '../actions/migrate.js';
import type { Template, Vector } from '../template/model.js';
import type { ActionData } from '../template/vm.js';
import { none, usage, type ActionInput, type ActionOutput, type RemoteAction } from './action-args.js';
import { flagValueOf } from './flags.js';

// Names the positional arguments; the last one is the host, the one before it the VM id.
function named(
  names: readonly string[],
  action: string,
  positional: readonly string[],
): Record<string, string> {
  if (positional.length < names.length + 1) {
    usage(
      `${action}: expected ${names.map((n) => `<${n}>`).join(' ')} <vmid> <host>, got ${positional.length} argument(s); see --help`,
    );
  }
  const request: Record<string, string> = {};
  names.forEach((name, i) => (request[name] = positional[i] ?? ''));
  request['host'] = positional.at(-1) ?? '';
  request['vmid'] = positional.length >= names.length + 2 ? (positional.at(-2) ?? '') : '';
  return request;
}

async function actionDocument(
  input: ActionInput,
  request: Record<string, string>,
  text: string,
): Promise<ActionData> {
  const { readVmDocument } = await import('../setup/load-vm.js');
  return readVmDocument(text, {
    file: flagValueOf(input.flags, '--vm-xml') ?? flagValueOf(input.flags, '--template'),
    defaults: flagValueOf(input.flags, '--defaults'),
    vmId: request['vmid'] ?? '',
  });
}

// The PCI entry being hot-plugged (PCI[ATTACH=YES]: a NIC passed through), if the document has one.
async function attachedPci(data: ActionData): Promise<Vector | undefined> {
  const { getVectors } = await import('../template/model.js');
  const { isYes } = await import('../translate/lookup.js');
  return getVectors(data.vm?.template ?? { attributes: [] }, 'PCI').find((pci) => isYes(pci['ATTACH']));
}

async function defaultsOf(input: ActionInput): Promise<Template> {
  const { loadDefaults } = await import('../setup/load-vm.js');
  const { resolveDefaultsPath } = await import('../setup/paths.js');
  return loadDefaults(resolveDefaultsPath(flagValueOf(input.flags, '--defaults')));
}

function progressLine(progress: MigrationProgress): string {
  const percent = progress.percent === undefined ? '' : ` ${progress.percent}%`;
  const left = progress.remainingMiB === undefined ? '' : `, ${progress.remainingMiB.toFixed(1)} MiB left`;
  return `migrating:${percent}${left} (${progress.elapsedSeconds}s)`;
}

function migrateAction(name: 'migrate' | 'migrate_local', driveFrom: 'source' | 'front-end'): RemoteAction {
  return {
    usage: '<deploy_id> <dest_host> <src_host> [<vmid> <host>]  (action XML on stdin, optional)',
    help:
      (driveFrom === 'source'
        ? 'Live-migrates the domain: virsh migrate runs on the source host towards $QEMU_PROTOCOL://<dest_host>/system.\n'
        : 'Live-migrates the domain, driven from this machine: virsh connects to $QEMU_PROTOCOL://<src_host>/system.\n') +
      'Success only when the domain runs on the destination and is gone from the source. Past MIGRATE_TIMEOUT the job\n' +
      'is aborted; on any failure the domain keeps running on the source and nothing is left on the destination.\n' +
      'With the action XML on stdin: FEATURES/MIGRATE_AUTO_CONVERGE, MIGRATE_COMPRESSED, and a system datastore\n' +
      'with SHARED=NO copies the disks (--copy-storage-all). --copy-storage forces that.',
    readsStdin: true,
    createsDomain: false,
    parse: (positional) => {
      if (positional.length < 3)
        usage(
          `${name}: expected <deploy_id> <dest_host> <src_host> then optionally <vmid> <host>, got ${positional.length} argument(s); see --help`,
        );
      return {
        deploy_id: positional[0] ?? '',
        destination: positional[1] ?? '',
        host: positional[2] ?? '',
        vmid: positional.length >= 5 ? (positional.at(-2) ?? '') : '',
      };
    },
    async run(ctx, request, input) {
      const data =
        input.stdin.trim() === '' && !input.flags.has('--vm-xml')
          ? undefined
          : await actionDocument(input, request, input.stdin);
      const { migrateFromVm } = await import('../actions/from-vm.js');
      const progress = input.progress;
      const result = await migrateFromVm(ctx, {
        source: request['host'] ?? '',
        destination: request['destination'] ?? '',
        domain: request['deploy_id'] ?? '',
        driveFrom,
        ...(data === undefined ? {} : { data }),
        ...(input.flags.has('--copy-storage') ? { copyStorage: true } : {}),
        ...(progress === undefined
          ? {}
          : { onProgress: (p: MigrationProgress) => progress(progressLine(p)) }),
      });
      return none({ ...result, source: request['host'], destination: request['destination'] });
    },
  };
}

const DOCUMENT_HELP =
  'The action XML (VMM_DRIVER_ACTION_DATA or <VM>, raw or base64) or --vm-xml FILE (also a template).';

export const VM_ACTIONS: Readonly<Record<string, RemoteAction>> = {
  migrate: migrateAction('migrate', 'source'),
  migrate_local: migrateAction('migrate_local', 'front-end'),
  attach_disk: {
    usage: '<domain> <source> <target> <target_index> <action_xml_base64|-> <vmid> <host>',
    help: `Hot-plugs the VM's DISK with ATTACH=YES (built like at deployment, DEFAULT_ATTACH_* from kvmrc)\nfrom the file <source> on the host ('-': the action XML's DISK_TARGET_PATH, else <VM dir>/disk.<DISK_ID>).\n${DOCUMENT_HELP} '-' reads it from stdin.\nA target in use, or a SATA/IDE disk, is refused.`,
    readsStdin: true,
    createsDomain: false,
    parse: (positional) =>
      named(['deploy_id', 'source', 'target', 'target_index', 'document'], 'attach_disk', positional),
    async run(ctx, request, input) {
      const arg = request['document'] ?? '';
      const data = await actionDocument(input, request, arg === '-' || arg === '' ? input.stdin : arg);
      const { attachDiskFromVm } = await import('../actions/from-vm.js');
      const result = await attachDiskFromVm(ctx, {
        host: request['host'] ?? '',
        domain: request['deploy_id'] ?? '',
        data,
        defaults: await defaultsOf(input),
        target: request['target'] ?? '',
        ...(request['source'] === undefined || request['source'] === '-'
          ? {}
          : { source: request['source'] }),
      });
      return none({ target: result.target });
    },
  },
  detach_disk: {
    usage: '<domain> <source> <target> <target_index> <vmid> <host>',
    help: 'Hot-unplugs the disk <target>; done when `virsh domblklist` no longer lists it. A disk that is not there is a success.',
    readsStdin: false,
    createsDomain: false,
    parse: (positional) =>
      named(['deploy_id', 'source', 'target', 'target_index'], 'detach_disk', positional),
    dryRunAssumes: (request) => ({ disks: [request['target'] ?? ''] }),
    async run(ctx, request) {
      const { detachDisk } = await import('../actions/hotplug.js');
      const result = await detachDisk(ctx, {
        host: request['host'] ?? '',
        domain: request['deploy_id'] ?? '',
        target: request['target'] ?? '',
      });
      return none({ ...result });
    },
  },
  attach_nic: {
    usage: '<domain> <mac> <bridge> <model> <vn_mad> <target> <vmid> <host>  (action XML on stdin)',
    help: `Hot-plugs the VM's NIC with ATTACH=YES (DEFAULT_ATTACH_NIC_MODEL / _FILTER from kvmrc), or its PCI entry with ATTACH=YES (a NIC passed through: <hostdev>, or <interface type='hostdev'> for an SR-IOV VF).\n${DOCUMENT_HELP}`,
    readsStdin: true,
    createsDomain: false,
    parse: (positional) => named(['deploy_id', 'mac'], 'attach_nic', positional),
    async run(ctx, request, input) {
      const data = await actionDocument(input, request, input.stdin);
      const host = request['host'] ?? '';
      const domain = request['deploy_id'] ?? '';
      const pci = await attachedPci(data);
      if (pci !== undefined) {
        const { attachPci } = await import('../actions/pci-hotplug.js');
        await attachPci(ctx, { host, domain, pci });
        return none({ pci: pci['ADDRESS'] ?? pci['UUID'] ?? '' });
      }
      const { attachNicFromVm } = await import('../actions/from-vm.js');
      const result = await attachNicFromVm(ctx, { host, domain, data, defaults: await defaultsOf(input) });
      return none({ mac: result.mac });
    },
  },
  detach_nic: {
    usage: '<domain> <mac> <vmid> <host>  (action XML on stdin, optional)',
    help: "Hot-unplugs the NIC with <mac>, up to VIRSH_RETRIES tries, until `virsh domiflist` no longer lists it; with an action document on stdin whose PCI entry has ATTACH=YES, that PCI device (as OpenNebula's driver sends it).",
    readsStdin: true,
    createsDomain: false,
    parse: (positional) => named(['deploy_id', 'mac'], 'detach_nic', positional),
    dryRunAssumes: (request) => ({ nics: [request['mac'] ?? ''] }),
    async run(ctx, request, input) {
      const host = request['host'] ?? '';
      const domain = request['deploy_id'] ?? '';
      const document =
        input.stdin !== '' ||
        flagValueOf(input.flags, '--vm-xml') !== undefined ||
        flagValueOf(input.flags, '--template') !== undefined;
      const data = document ? await actionDocument(input, request, input.stdin) : undefined;
      const pci = data === undefined ? undefined : await attachedPci(data);
      if (pci !== undefined) {
        const { detachPci } = await import('../actions/pci-hotplug.js');
        return none({ ...(await detachPci(ctx, { host, domain, pci })) });
      }
      const { detachNic } = await import('../actions/hotplug.js');
      const result = await detachNic(ctx, { host, domain, mac: request['mac'] ?? '' });
      return none({ ...result });
    },
  },
  snapshot_create: {
    usage: '<domain> <snapshot_id> <vmid> <host>',
    help: 'Creates snapshot snap-<snapshot_id>, prints its name and keeps its XML as <VM dir>/snap-<id>.xml.',
    readsStdin: false,
    createsDomain: false,
    parse: (positional) => named(['deploy_id', 'snapshot_id'], 'snapshot_create', positional),
    async run(ctx, request) {
      const { createSnapshot } = await import('../actions/snapshots.js');
      const result = await createSnapshot(ctx, {
        host: request['host'] ?? '',
        domain: request['deploy_id'] ?? '',
        snapshotId: request['snapshot_id'] ?? '',
      });
      return { output: result.name, json: { ...result } };
    },
  },
  snapshot_revert: snapshotAction(
    'snapshot_revert',
    'Reverts the domain to the snapshot (virsh snapshot-revert --force).',
  ),
  snapshot_delete: snapshotAction('snapshot_delete', 'Deletes the snapshot and its kept XML.'),
  resize: {
    usage: '<domain> <vmid> <host>  (action XML on stdin)',
    help: `Sets vCPUs (setvcpus --live --hotpluggable) and memory (setmem, or a DIMM with MEMORY_RESIZE_MODE=HOTPLUG)\nto TEMPLATE/VCPU and MEMORY; TEMPLATE/RESIZE holds the old values. ${DOCUMENT_HELP}`,
    readsStdin: true,
    createsDomain: false,
    parse: (positional) => named(['deploy_id'], 'resize', positional),
    async run(ctx, request, input) {
      const data = await actionDocument(input, request, input.stdin);
      const { resizeFromVm } = await import('../actions/from-vm.js');
      return none({
        ...(await resizeFromVm(ctx, {
          host: request['host'] ?? '',
          domain: request['deploy_id'] ?? '',
          data,
        })),
      });
    },
  },
  resize_disk: {
    usage: '<domain> <disk_id> <size_mb> <action_xml_base64|-> <vmid> <host>',
    help: `Grows the disk DISK_ID to <size_mb> MiB (virsh blockresize). ${DOCUMENT_HELP}`,
    readsStdin: true,
    createsDomain: false,
    parse: (positional) => named(['deploy_id', 'disk_id', 'size', 'document'], 'resize_disk', positional),
    async run(ctx, request, input) {
      const arg = request['document'] ?? '';
      const data = await actionDocument(input, request, arg === '-' || arg === '' ? input.stdin : arg);
      const size = request['size'] ?? '';
      if (!/^\d+$/.test(size)) usage(`resize_disk: <size_mb> must be a whole number of MiB, got '${size}'`);
      const { resizeDiskFromVm } = await import('../actions/from-vm.js');
      const result = await resizeDiskFromVm(ctx, {
        host: request['host'] ?? '',
        domain: request['deploy_id'] ?? '',
        data,
        diskId: request['disk_id'] ?? '',
        sizeMiB: Number(size),
      });
      return none({ target: result.target, sizeMiB: Number(size) });
    },
  },
  prereconfigure: {
    usage: '<domain> <context_target> <vmid> <host>',
    help: 'Ejects the context CD-ROM (an empty one is a success).',
    readsStdin: false,
    createsDomain: false,
    parse: (positional) => named(['deploy_id', 'target'], 'prereconfigure', positional),
    dryRunAssumes: (request) => ({ disks: [request['target'] ?? ''] }),
    async run(ctx, request) {
      const { ejectMedia } = await import('../actions/reconfigure.js');
      return none({
        ...(await ejectMedia(ctx, {
          host: request['host'] ?? '',
          domain: request['deploy_id'] ?? '',
          target: request['target'] ?? '',
        })),
      });
    },
  },
  reconfigure: {
    usage: '<domain> <context_target> <iso_path> <vmid> <host>',
    help: 'Inserts the new context image into the CD-ROM (virsh change-media --insert).',
    readsStdin: false,
    createsDomain: false,
    parse: (positional) => named(['deploy_id', 'target', 'image'], 'reconfigure', positional),
    async run(ctx, request) {
      const { insertMedia } = await import('../actions/reconfigure.js');
      await insertMedia(ctx, {
        host: request['host'] ?? '',
        domain: request['deploy_id'] ?? '',
        target: request['target'] ?? '',
        image: request['image'] ?? '',
      });
      return none();
    },
  },
  exec: {
    usage: '<vmid> <host> <command> [<stdin_base64>]  (OpenNebula passes no extra arguments)',
    help:
      'Runs <command> in the guest through the QEMU guest agent (guest-exec on one-<vmid>), split into words as a\n' +
      'shell would (quotes, backslashes; no expansion). <stdin_base64> is its standard input. Prints the pid in the\n' +
      'guest and writes it to /var/run/one/one-<vmid> on the host (under /var/run/one/.exec-lock), where\n' +
      "OpenNebula's monitor probe collects the exit code and output for oned.\n" +
      '--wait: write no pid file; wait for the command, print its stdout and stderr and exit with its exit code.',
    readsStdin: false,
    createsDomain: false,
    parse: (positional) => {
      if (positional.length < 3)
        usage(
          `exec: expected <vmid> <host> <command> then optionally <stdin_base64>, got ${positional.length} argument(s); see --help`,
        );
      return {
        vmid: positional[0] ?? '',
        host: positional[1] ?? '',
        command: positional[2] ?? '',
        stdin: positional[3] ?? '',
      };
    },
    run: (ctx, request, input) => execInGuest(ctx, request, input.flags.has('--wait')),
  },
  exec_cancel: {
    usage: '<vmid> <host>',
    help: 'Kills (kill -9, through the guest agent) the command exec started in one-<vmid>, and removes its pid file.\nNo pid file: nothing to cancel, a success.',
    readsStdin: false,
    createsDomain: false,
    parse: (positional) => {
      if (positional.length < 2)
        usage(`exec_cancel: expected <vmid> <host>, got ${positional.length} argument(s); see --help`);
      return { vmid: positional[0] ?? '', host: positional[1] ?? '' };
    },
    async run(ctx, request) {
      const { cancelGuestCommand } = await import('../actions/guest-exec.js');
      const vmid = request['vmid'] ?? '';
      const pid = await cancelGuestCommand(ctx, {
        host: request['host'] ?? '',
        domain: request['deploy_id'] ?? `one-${vmid}`,
        vmid,
      });
      return { output: pid === undefined ? '' : String(pid), json: { killed: pid ?? null } };
    },
  },
};

// exec: starts the command (pid file for OpenNebula's monitor), or with --wait runs it to the end.
async function execInGuest(
  ctx: ActionContext,
  request: Record<string, string>,
  wait: boolean,
): Promise<ActionOutput> {
  const guest = await import('../actions/guest-exec.js');
  const vmid = request['vmid'] ?? '';
  const host = request['host'] ?? '';
  const domain = request['deploy_id'] ?? `one-${vmid}`;
  const pid = await guest.startGuestCommand(ctx, {
    host,
    domain,
    vmid,
    command: request['command'] ?? '',
    stdin: request['stdin'],
    pidFile: !wait,
  });
  if (!wait) return { output: String(pid), json: { pid } };
  const result = await guest.waitGuestCommand(ctx, host, domain, pid);
  const stdout = result.stdout.toString('utf8');
  const stderr = result.stderr.toString('utf8');
  if (result.truncated) ctx.log('W', 'the guest agent truncated the output (16 MiB at most)');
  return {
    output: stdout,
    raw: true,
    stderr,
    // a command ended by a signal exits as a shell reports it: 128 + the signal
    exitCode: result.exitCode ?? 128 + (result.signal ?? 0),
    json: { pid, exitCode: result.exitCode, signal: result.signal, stdout, stderr },
  };
}

function snapshotAction(name: 'snapshot_revert' | 'snapshot_delete', help: string): RemoteAction {
  return {
    usage: '<domain> <snapshot_name> <vmid> <host>',
    help: `${help} An unknown snapshot is refused and nothing is changed.`,
    readsStdin: false,
    createsDomain: false,
    parse: (positional) => named(['deploy_id', 'name'], name, positional),
    dryRunAssumes: (request) => ({ snapshots: [request['name'] ?? ''] }),
    async run(ctx: ActionContext, request) {
      const snapshots = await import('../actions/snapshots.js');
      const input = {
        host: request['host'] ?? '',
        domain: request['deploy_id'] ?? '',
        name: request['name'] ?? '',
      };
      if (name === 'snapshot_revert') await snapshots.revertSnapshot(ctx, input);
      else await snapshots.deleteSnapshot(ctx, input);
      return none({ snapshot: input.name });
    },
  };
}
