// The actions OpenNebula runs as one script, without steps: POLL, SNAPSHOTCREATE, SNAPSHOTDELETE,
// RESIZE, EXEC and EXEC_CANCEL. What each reads from the payload is read at once, so a bad one is answered before
// anything is scheduled.
import { checkedStdin, guestCommand } from '../actions/guest-exec.js';
import { getVectors } from '../template/model.js';
import { activeSnapshot } from '../translate/action-inputs.js';
import type { Vm } from '../template/vm.js';
import { failAction, TranslateError } from '../util/errors.js';
import type { OnedRequest } from './request.js';
import type { HandlerEnv, PreparedAction } from './prepare.js';

export const DIRECT_ACTIONS = new Set([
  'POLL',
  'SNAPSHOTCREATE',
  'SNAPSHOTDELETE',
  'RESIZE',
  'EXEC',
  'EXEC_CANCEL',
]);

function vmOf(request: OnedRequest): Vm {
  return request.data.vm ?? failAction(`Cannot perform ${request.action}, expecting VM`);
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

export function prepareDirectAction(request: OnedRequest, env: HandlerEnv): PreparedAction {
  const { host, domain, data } = request;
  switch (request.action) {
    case 'POLL': {
      const samples = env.samples;
      return {
        host,
        run: async (ctx) =>
          (await (await import('../actions/poll.js')).poll(ctx, { host, domain, samples })).line,
      };
    }
    case 'SNAPSHOTCREATE': {
      const { id } = read(() => activeSnapshot(vmOf(request)));
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
    case 'SNAPSHOTDELETE': {
      const { hypervisorId } = read(() => activeSnapshot(vmOf(request)));
      if (hypervisorId === '') failAction('SNAPSHOT[ACTIVE=YES] has no HYPERVISOR_ID');
      return {
        host,
        run: async (ctx) => {
          await (
            await import('../actions/snapshots.js')
          ).deleteSnapshot(ctx, { host, domain, name: hypervisorId });
          return '-';
        },
      };
    }
    case 'RESIZE':
      vmOf(request);
      return {
        host,
        run: async (ctx) => {
          await (await import('../actions/from-vm.js')).resizeFromVm(ctx, { host, domain, data });
          return '-';
        },
      };
    case 'EXEC': {
      const vm = vmOf(request);
      const exec = getVectors(vm.template, 'QEMU_GA_EXEC')[0];
      const command =
        exec?.['COMMAND'] ?? failAction('Cannot perform EXEC, expecting VM/TEMPLATE/QEMU_GA_EXEC/COMMAND');
      // Checked now: a bad command or stdin is answered before anything runs.
      guestCommand(command);
      const stdin = checkedStdin(exec?.['STDIN']);
      return {
        host,
        run: async (ctx) => {
          const { startGuestCommand } = await import('../actions/guest-exec.js');
          await startGuestCommand(ctx, {
            host,
            domain: agentDomain(request),
            vmid: request.vmid,
            command,
            stdin,
          });
          return '-';
        },
      };
    }
    case 'EXEC_CANCEL':
      return {
        host,
        run: async (ctx) => {
          const { cancelGuestCommand } = await import('../actions/guest-exec.js');
          await cancelGuestCommand(ctx, { host, domain: agentDomain(request), vmid: request.vmid });
          return '-';
        },
      };
    default:
      return failAction('unsupported action');
  }
}

// The guest agent is addressed by the domain's name, one-<vmid>, as OpenNebula does (DEPLOY_ID is
// the UUID); its monitor probe asks the same name for the result.
function agentDomain(request: OnedRequest): string {
  return `one-${request.vmid}`;
}
