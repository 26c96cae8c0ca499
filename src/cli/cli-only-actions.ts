// Actions only the `onevmm` command has (OpenNebula has no executable for them).
import { none, type RemoteAction } from './action-args.js';

export const CLI_ONLY_ACTIONS: Readonly<Record<string, RemoteAction>> = {
  snapshot_list: {
    usage: '<host> <vm>',
    help: 'Lists the snapshots of the domain, parents first.',
    readsStdin: false,
    createsDomain: false,
    parse: () => ({}),
    async run(ctx, request) {
      const { listSnapshots } = await import('../actions/snapshots.js');
      const names = await listSnapshots(ctx, request['host'] ?? '', request['deploy_id'] ?? '');
      return { output: names.join('\n'), json: { snapshots: names } };
    },
  },
  // resize-disk by target (the executable takes a DISK_ID and the VM document).
  resize_disk_target: {
    usage: '<host> <vm> <target> <size_mb>',
    help: 'Grows the disk <target> to <size_mb> MiB (virsh blockresize).',
    readsStdin: false,
    createsDomain: false,
    parse: () => ({}),
    async run(ctx, request) {
      const { resizeDisk } = await import('../actions/resize.js');
      const size = request['size'] ?? '';
      await resizeDisk(ctx, {
        host: request['host'] ?? '',
        domain: request['deploy_id'] ?? '',
        target: request['target'] ?? '',
        sizeMiB: /^\d+$/.test(size) ? Number(size) : Number.NaN,
      });
      return none({ target: request['target'], sizeMiB: Number(size) });
    },
  },
};
