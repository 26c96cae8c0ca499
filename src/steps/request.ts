// One request of oned, as the step lists see it: the payload, the host and domain it names, and
// the services the VMM steps need from the face that runs them.
import type { ActionContext } from '../actions/context.js';
import type { Template } from '../template/model.js';
import type { ActionData } from '../template/vm.js';
import { failAction } from '../util/errors.js';
import type { Step } from './step.js';

export interface StepServices {
  // The driver defaults (vmm_exec_kvm.conf), for hot-plug device XML and onevmm's own translation.
  readonly defaults: () => Promise<Template>;
  // Reads a file on the front-end (LOCAL_DEPLOYMENT_FILE).
  readonly readLocalFile: (path: string) => Promise<string>;
  readonly now: () => number;
  // -l migrate=migrate_local: virsh migrate runs on the front-end.
  readonly migrateLocal: boolean;
}

export interface OnedRequest {
  readonly action: string;
  readonly vmid: string;
  readonly data: ActionData;
  // HOST, and the domain to act on (DEPLOY_ID, else one-<vmid>).
  readonly host: string;
  readonly domain: string;
  readonly services: StepServices;
}

// A protocol action's steps; the reply's info is what the step named `main` printed.
export interface StepList {
  readonly steps: readonly Step[];
  readonly main: string;
  // Work before the first step (DEPLOY reads its deployment file): a failure there ends the
  // action before anything ran, as in OpenNebula.
  readonly before?: (ctx: ActionContext) => Promise<void>;
  // Written first in the reply, SUCCESS or FAILURE (UPDATESG: the security group id).
  readonly prefix?: string;
  // Runs beside the VM's running action instead of after it (BACKUPCANCEL).
  readonly alongside?: boolean;
}

// A payload value a step list needs, or OpenNebula's refusal: `Cannot perform <ACTION>, expecting <xpath>`.
export function expecting(request: OnedRequest, value: string | undefined, xpath: string): string {
  if (value === undefined || value.trim() === '')
    failAction(`Cannot perform ${request.action}, expecting ${xpath}`);
  return value.trim();
}

// base64 of the <VM> element, as OpenNebula gives it to the TM migrate scripts.
export function vmBase64(request: OnedRequest): string {
  return Buffer.from(request.data.vmXml ?? '', 'utf8').toString('base64');
}
