// The protocol actions after deployment: what each reads from the payload (MIGR_HOST, the DISK
// or NIC with ATTACH=YES, SNAPSHOT[ACTIVE=YES], DISK[RESIZE=YES]) and the action it runs.
// Payload problems are thrown at once, so the reply comes before anything is scheduled.
import type { ActionContext } from '../actions/context.js';
import {
  activeSnapshot,
  attachedDiskTarget,
  attachedNicMac,
  resizingDisk,
} from '../translate/action-inputs.js';
import type { ActionData, Vm } from '../template/vm.js';
import { failAction, TranslateError } from '../util/errors.js';
import type { HandlerEnv, PreparedAction } from './handlers.js';

export const VM_ACTIONS = [
  'MIGRATE',
  'ATTACHDISK',
  'DETACHDISK',
  'ATTACHNIC',
  'DETACHNIC',
  'SNAPSHOTCREATE',
  'SNAPSHOTREVERT',
  'SNAPSHOTDELETE',
  'RESIZE',
  'RESIZEDISK',
] as const;

interface VmRequest {
  readonly host: string;
  readonly domain: string;
  readonly data: ActionData;
  readonly env: HandlerEnv;
}

function vmOf(data: ActionData): Vm {
  return data.vm ?? failAction('the payload has no <VM>');
}

// Reads a payload value, turning a TranslateError into the FAILURE reason.
function read<T>(get: () => T): T {
  try {
    return get();
  } catch (error) {
    if (error instanceof TranslateError) failAction(error.message);
    throw error;
  }
}

const done = (): string => '-';

export function prepareVmAction(action: string, request: VmRequest): PreparedAction {
  const { host, domain, data, env } = request;
  switch (action) {
    case 'MIGRATE': {
      const destination = data.migrHost ?? failAction('the payload has no MIGR_HOST');
      return {
        host,
        run: async (ctx) =>
          (await import('../actions/from-vm.js'))
            .migrateFromVm(ctx, {
              source: host,
              destination,
              domain,
              data,
              driveFrom: env.migrateLocal === true ? 'front-end' : 'source',
            })
            .then(done),
      };
    }
    case 'ATTACHDISK': {
      read(() => attachedDiskTarget(vmOf(data)));
      return {
        host,
        run: async (ctx: ActionContext) =>
          (await import('../actions/from-vm.js'))
            .attachDiskFromVm(ctx, { host, domain, data, defaults: await env.defaults() })
            .then(done),
      };
    }
    case 'DETACHDISK': {
      const target = read(() => attachedDiskTarget(vmOf(data)));
      return {
        host,
        run: async (ctx) =>
          (await import('../actions/hotplug.js')).detachDisk(ctx, { host, domain, target }).then(done),
      };
    }
    case 'ATTACHNIC': {
      read(() => attachedNicMac(vmOf(data)));
      return {
        host,
        run: async (ctx) =>
          (await import('../actions/from-vm.js'))
            .attachNicFromVm(ctx, { host, domain, data, defaults: await env.defaults() })
            .then(done),
      };
    }
    case 'DETACHNIC': {
      const mac = read(() => attachedNicMac(vmOf(data)));
      return {
        host,
        run: async (ctx) =>
          (await import('../actions/hotplug.js')).detachNic(ctx, { host, domain, mac }).then(done),
      };
    }
    case 'SNAPSHOTCREATE': {
      const { id } = read(() => activeSnapshot(vmOf(data)));
      return {
        host,
        run: async (ctx) =>
          (
            await (
              await import('../actions/snapshots.js')
            ).createSnapshot(ctx, { host, domain, snapshotId: id })
          ).name,
      };
    }
    case 'SNAPSHOTREVERT':
    case 'SNAPSHOTDELETE': {
      const { hypervisorId } = read(() => activeSnapshot(vmOf(data)));
      if (hypervisorId === '') failAction('SNAPSHOT[ACTIVE=YES] has no HYPERVISOR_ID');
      const input = { host, domain, name: hypervisorId };
      return {
        host,
        run: async (ctx) => {
          const snapshots = await import('../actions/snapshots.js');
          if (action === 'SNAPSHOTREVERT') await snapshots.revertSnapshot(ctx, input);
          else await snapshots.deleteSnapshot(ctx, input);
          return '-';
        },
      };
    }
    case 'RESIZE':
      vmOf(data);
      return {
        host,
        run: async (ctx) =>
          (await import('../actions/from-vm.js')).resizeFromVm(ctx, { host, domain, data }).then(done),
      };
    case 'RESIZEDISK': {
      const { diskId, sizeMiB } = read(() => resizingDisk(vmOf(data)));
      return {
        host,
        run: async (ctx) =>
          (await import('../actions/from-vm.js'))
            .resizeDiskFromVm(ctx, { host, domain, data, diskId, sizeMiB })
            .then(done),
      };
    }
    default:
      return failAction('unsupported action');
  }
}
