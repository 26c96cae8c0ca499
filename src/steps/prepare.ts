// What each protocol action does with its payload. prepareAction() reads the payload at once (so a
// bad one is answered straight away) and returns the host and the work to schedule: the step list
// OpenNebula master runs for that action (src/steps/lists), or, for the actions OpenNebula runs as
// one script (POLL, SNAPSHOTCREATE, SNAPSHOTDELETE, RESIZE), that action alone.
import type { ActionContext } from '../actions/context.js';
import type { CpuSampleStore } from '../actions/poll.js';
import type { StepEnv, StepTarget } from './run-steps.js';
import type { OnedRequest, StepList, StepServices } from './request.js';
import { parseActionData } from '../template/parse-action-data.js';
import type { ActionData } from '../template/vm.js';
import { failAction } from '../util/errors.js';
import { prepareDirectAction, DIRECT_ACTIONS } from './direct-actions.js';
import { STEP_LISTS } from './step-lists.js';
import { buildVnmMessage, type VnmMessage } from './vnm-message.js';

export interface HandlerEnv extends StepServices {
  readonly samples: CpuSampleStore;
  // Where OpenNebula's scripts are and how the steps run them.
  readonly steps: StepEnv;
}

export interface PreparedAction {
  readonly host: string | undefined;
  // Written first in the reply's info, SUCCESS or FAILURE (UPDATESG's security group id).
  readonly prefix?: string;
  // Runs beside the VM's running action (BACKUPCANCEL).
  readonly alongside?: boolean;
  // Runs the action; resolves to the reply's info.
  run(ctx: ActionContext): Promise<string>;
}

// Actions of SPEC §2.1 that onevmm does not carry out yet (they get a clear FAILURE).
export const NOT_YET = new Set<string>();

function domainOf(data: ActionData, vmid: string): string {
  return data.deployId ?? data.vm?.deployId ?? `one-${vmid}`;
}

// Reads the payload and returns the prepared action, or throws with the reason for FAILURE.
export function prepareAction(
  action: string,
  vmid: string,
  payload: string,
  env: HandlerEnv,
): PreparedAction {
  if (NOT_YET.has(action)) failAction(`${action} is not implemented by onevmm yet`);
  const build = STEP_LISTS[action];
  if (build === undefined && !DIRECT_ACTIONS.has(action)) failAction('unsupported action');
  if (payload === '') failAction('the request has no payload');
  const data = parseActionData(payload, { file: `${action} payload` });
  if (data.host === undefined || data.host === '') failAction(`Cannot perform ${action}, expecting HOST`);
  const request: OnedRequest = {
    action,
    vmid,
    data,
    host: data.host,
    domain: domainOf(data, vmid),
    services: env,
  };
  if (build === undefined) return prepareDirectAction(request, env);
  const list: StepList = build(request, env.steps);
  let vnm: VnmMessage | undefined;
  const target: StepTarget = {
    vmid,
    host: data.host,
    ...(data.migrHost === undefined ? {} : { destination: data.migrHost }),
    // Built when a network step first needs it (REBOOT has none).
    get vnm(): VnmMessage {
      return (vnm ??=
        data.vmXml === undefined ? { drivers: [], xml: '<VM></VM>' } : buildVnmMessage(data.vmXml));
    },
  };
  return {
    host: data.host,
    ...(list.prefix === undefined ? {} : { prefix: list.prefix }),
    ...(list.alongside === true ? { alongside: true } : {}),
    run: async (ctx) => {
      const { runSteps } = await import('./run-steps.js');
      await list.before?.(ctx);
      return runSteps(ctx, env.steps, target, list.steps, list.main);
    },
  };
}
