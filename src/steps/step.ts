// The steps of oned's multi-step actions, as data: what OpenNebula's one_vmm_exec.rb declares as
// `{ driver: :vnm, action: :pre, parameters: [...], fail_actions: [...], no_fail: true }`.
//   tm   a transfer manager script, run on the front-end: <remotes>/tm/<TM_MAD>/<cmd> <args>
//   ds   a datastore driver script, run on the front-end: <remotes>/datastore/<DS_MAD>/<cmd> <args>
//   vnm  the network driver action, once per VN_MAD of the VM, on the host:
//        <SCRIPTS_REMOTE_DIR>/vnm/<VN_MAD>/<action> <params>
//   vmm  onevmm's own action (deploy, cancel, migrate…) on the host
// A failed step runs its failActions (best effort) and ends the list, unless it is noFail.
import type { ActionContext } from '../actions/context.js';

// A parameter: a fixed word, or what an earlier step printed (OpenNebula's :deploy_info).
export type StepParam = string | { readonly infoOf: string };

// The action's host (HOST), or the other one of a migration (MIGR_HOST).
export type StepWhere = 'source' | 'destination';

export interface StepOptions {
  readonly failActions?: readonly Step[];
  readonly noFail?: boolean;
}

export interface TmStep extends StepOptions {
  readonly kind: 'tm';
  readonly action: string;
  // [COMMAND, TM_MAD, args…], as oned writes TM_COMMAND.
  readonly command: readonly string[];
  readonly stdin?: string;
}

export interface DsStep extends StepOptions {
  readonly kind: 'ds';
  readonly action: string;
  // [COMMAND, DS_MAD, args…].
  readonly command: readonly string[];
  readonly stdin?: string;
}

export interface VnmStep extends StepOptions {
  readonly kind: 'vnm';
  readonly action: string;
  readonly params: readonly StepParam[];
  readonly where: StepWhere;
  // Default: base64 of the reduced VM document.
  readonly stdin?: string;
  // VN_MAD drivers this step leaves out (SNAPSHOTREVERT skips elastic).
  readonly skip?: readonly string[];
}

// Looks up what an earlier step printed ('' when it did not run).
export type StepInfoLookup = (action: string) => string;

export interface VmmStep extends StepOptions {
  readonly kind: 'vmm';
  readonly action: string;
  readonly where: StepWhere;
  // Runs the action on `host`; resolves to what it prints (deploy: the UUID).
  readonly run: (ctx: ActionContext, host: string, infoOf: StepInfoLookup) => Promise<string>;
}

export type Step = TmStep | DsStep | VnmStep | VmmStep;

// What oned's TM_COMMAND line holds, split on blanks as OpenNebula does.
export function splitCommand(line: string): string[] {
  return line
    .trim()
    .split(/\s+/)
    .filter((word) => word !== '');
}

export function tm(
  action: string,
  command: string | readonly string[],
  options: StepOptions & { stdin?: string } = {},
): TmStep {
  return {
    kind: 'tm',
    action,
    command: typeof command === 'string' ? splitCommand(command) : command,
    ...options,
  };
}

export function ds(
  action: string,
  command: readonly string[],
  options: StepOptions & { stdin?: string } = {},
): DsStep {
  return { kind: 'ds', action, command, ...options };
}

export function vnm(
  action: string,
  params: readonly StepParam[] = [],
  options: StepOptions & { where?: StepWhere; stdin?: string; skip?: readonly string[] } = {},
): VnmStep {
  const { where = 'source', ...rest } = options;
  return { kind: 'vnm', action, params, where, ...rest };
}

export function vmm(
  action: string,
  run: VmmStep['run'],
  options: StepOptions & { where?: StepWhere } = {},
): VmmStep {
  const { where = 'source', ...rest } = options;
  return { kind: 'vmm', action, run, where, ...rest };
}

// The info of an earlier step, as a parameter.
export function infoOf(action: string): StepParam {
  return { infoOf: action };
}
