// The one step runner: runs a step list in order, each failed step's fail actions, the noFail rule,
// one LOG line per step in OpenNebula's wording (plus where it ran and how long it took), and the
// result of the whole list: the main action's info, or a StepFailure with the failed step's own
// message. TM and DS scripts run on the front-end (ctx.local), VNM scripts on the host over the
// action's SSH connection (ctx.runner), VMM steps are onevmm's own actions.
import type { ActionContext } from '../actions/context.js';
import { CommandError, TransportError } from '../host/errors.js';
import type { CommandResult, RemoteStep } from '../host/runner.js';
import { OnevmmError } from '../util/errors.js';
import type { OneLocations } from './one-locations.js';
import { failureMessage, readScriptStderr } from './script-output.js';
import type { Step, StepParam, StepWhere, TmStep, DsStep, VnmStep } from './step.js';
import type { VnmMessage } from './vnm-message.js';

export interface StepEnv {
  readonly locations: OneLocations;
  // -l: actions (upper case) whose scripts run on the front-end; for VNM steps as in OpenNebula.
  readonly localActions: ReadonlySet<string>;
  // VNMAD_LOCAL_ACTIONS: "<VN_MAD>-<action>" pairs run on the front-end.
  readonly vnmadLocalActions: ReadonlySet<string>;
  // LIVE_DISK_SNAPSHOTS: the "<VM_MAD>-<TM_MAD>" pairs that take disk snapshots of running VMs.
  readonly liveDiskSnapshots: ReadonlySet<string>;
  // Seconds a TM or DS script may run (TM_TIMEOUT).
  readonly tmTimeoutSeconds: number;
  // Whether a directory / file exists on the front-end.
  readonly isDirectory: (path: string) => boolean;
  readonly isFile: (path: string) => boolean;
  // What is amiss with this environment (e.g. SCRIPTS_REMOTE_DIR unknown), said once.
  readonly takeWarnings?: () => readonly string[];
}

// What the steps of one request act on.
export interface StepTarget {
  readonly vmid: string;
  readonly host: string;
  // MIGR_HOST, when the payload names one.
  readonly destination?: string;
  readonly vnm: VnmMessage;
}

// A step failed: the message is that step's own (what OpenNebula calls failed_info).
export class StepFailure extends OnevmmError {
  readonly step: Step;

  constructor(step: Step, message: string, options?: ErrorOptions) {
    super('ACTION', message, options);
    this.name = 'StepFailure';
    this.step = step;
  }
}

const DRIVER_NAMES: Readonly<Record<Step['kind'], string>> = {
  vmm: 'virtualization driver',
  vnm: 'network driver',
  tm: 'transfer manager driver',
  ds: 'datastore driver',
};

const FRONT_END = 'the front-end';

interface StepOutcome {
  readonly info: string;
  // What ran where, for the log: "(shared/context) on the front-end", "on node1".
  readonly detail: string;
}

// Runs `steps`; resolves to the info of the step named `main` ('-' when empty), or rejects with the
// StepFailure of the first failed step that is not noFail (after its fail actions ran).
export async function runSteps(
  ctx: ActionContext,
  env: StepEnv,
  target: StepTarget,
  steps: readonly Step[],
  main: string,
): Promise<string> {
  const infos = new Map<string, string>();
  const infoOf = (action: string): string => infos.get(action) ?? '';
  const param = (p: StepParam): string => (typeof p === 'string' ? p : infoOf(p.infoOf));

  const hostOf = (where: StepWhere, step: Step): string => {
    if (where === 'source') return target.host;
    if (target.destination === undefined || target.destination === '')
      throw new StepFailure(step, `${step.action}: the payload has no MIGR_HOST`);
    return target.destination;
  };

  const runOne = async (step: Step): Promise<StepOutcome> => {
    switch (step.kind) {
      case 'vmm': {
        const host = hostOf(step.where, step);
        return { info: await step.run(ctx, host, infoOf), detail: `on ${host}` };
      }
      case 'tm':
      case 'ds':
        return runLocalScript(ctx, env, step);
      case 'vnm':
        return runNetworkStep(ctx, env, target, step, hostOf(step.where, step), step.params.map(param));
    }
  };

  const execute = async (list: readonly Step[]): Promise<StepFailure | undefined> => {
    for (const step of list) {
      throwIfAborted(ctx);
      const started = ctx.now();
      const took = (): string => `${((ctx.now() - started) / 1000).toFixed(2)} s`;
      try {
        const outcome = await runOne(step);
        infos.set(step.action, outcome.info.trim());
        ctx.log('I', `Successfully execute ${DRIVER_NAMES[step.kind]} operation: ${step.action}.`);
        ctx.log('D', `${step.action} ${outcome.detail}, ${took()}`);
      } catch (error) {
        if (ctx.signal?.aborted === true) throw error;
        // Unlike OpenNebula, a failed step leaves no info: a fail action must never take an error
        // message for a domain name.
        const failure = asStepFailure(step, error);
        // Fail actions are best effort: their own failures are logged, never replace this one.
        if (step.failActions !== undefined) await execute(step.failActions);
        ctx.log('E', `Failed to execute ${DRIVER_NAMES[step.kind]} operation: ${step.action}.`);
        ctx.log('D', `${step.action} failed after ${took()}`);
        if (step.noFail !== true) return failure;
      }
    }
    return undefined;
  };

  const failure = await execute(steps);
  if (failure !== undefined) throw failure;
  const info = infoOf(main);
  return info === '' ? '-' : info;
}

function throwIfAborted(ctx: ActionContext): void {
  if (ctx.signal?.aborted === true) throw ctx.signal.reason ?? new OnevmmError('CANCELLED', 'cancelled');
}

// A step's error as its failure: onevmm's own errors keep their message; anything else is a bug
// and says so.
function asStepFailure(step: Step, error: unknown): StepFailure {
  if (error instanceof StepFailure) return error;
  if (error instanceof OnevmmError) return new StepFailure(step, error.message, { cause: error });
  const message = error instanceof Error ? error.message : String(error);
  return new StepFailure(step, `internal error: ${message}`, { cause: error });
}

// A TM or DS script: <remotes>/<tm|datastore>/<driver>/<cmd>, found as OpenNebula finds it.
async function runLocalScript(ctx: ActionContext, env: StepEnv, step: TmStep | DsStep): Promise<StepOutcome> {
  const [command = '', driver = '', ...args] = step.command;
  const kind = step.kind === 'tm' ? 'tm' : 'datastore';
  const base = `${env.locations.remotesDir}/${kind}`;
  const what = `${driver}/${command.toLowerCase()}`;
  if (
    driver === '' ||
    driver.includes('/') ||
    driver.startsWith('.') ||
    !env.isDirectory(`${base}/${driver}`)
  ) {
    const label = step.kind === 'tm' ? 'Transfer' : 'Datastore';
    throw new StepFailure(
      step,
      `${step.action}: ${label} Driver '${driver}' not available (no ${base}/${driver})`,
    );
  }
  const script = findScript(env, `${base}/${driver}`, command.toLowerCase());
  if (typeof script !== 'string') throw new StepFailure(step, `${step.action}: ${script.missing}`);
  const result = await runScript(ctx, step, `${step.action} (${what})`, FRONT_END, () =>
    local(ctx, step).run('front-end', {
      step: `${step.action} (${what})`,
      argv: [script, ...args],
      ...(step.stdin === undefined ? {} : { stdin: step.stdin }),
      timeoutSeconds: env.tmTimeoutSeconds,
      signal: ctx.signal,
    }),
  );
  return { info: result.stdout, detail: `(${what}) on ${FRONT_END}` };
}

// <dir>/<cmd>, else <dir>/<cmd without its .ext> (CLONE.ssh runs shared/clone.ssh, else shared/clone).
function findScript(env: StepEnv, dir: string, command: string): string | { missing: string } {
  if (command === '' || command.includes('/')) return { missing: `no command in '${command}'` };
  const path = `${dir}/${command}`;
  if (env.isFile(path)) return path;
  const dot = command.lastIndexOf('.');
  if (dot <= 0) return { missing: `Driver path '${path}' does not exist` };
  const shortened = `${dir}/${command.slice(0, dot)}`;
  if (env.isFile(shortened)) return shortened;
  return { missing: `Driver path '${path}' nor '${shortened}' exists` };
}

function local(ctx: ActionContext, step: Step): NonNullable<ActionContext['local']> {
  if (ctx.local === undefined)
    throw new StepFailure(step, `${step.action}: nothing may run on the front-end here`);
  return ctx.local;
}

// The network driver action, once per VN_MAD of the VM; the first failure ends it.
async function runNetworkStep(
  ctx: ActionContext,
  env: StepEnv,
  target: StepTarget,
  step: VnmStep,
  host: string,
  params: readonly string[],
): Promise<StepOutcome> {
  const encoded = `${Buffer.from(target.vnm.xml, 'utf8').toString('base64')}\n`;
  const drivers = target.vnm.drivers.filter((driver) => !(step.skip ?? []).includes(driver));
  let info = '';
  const ran: string[] = [];
  for (const driver of drivers) {
    const isLocal =
      env.localActions.has(step.action.toUpperCase()) ||
      env.vnmadLocalActions.has(`${driver}-${step.action}`);
    const label = `${step.action} (${driver})`;
    const run = (): Promise<CommandResult> => {
      if (isLocal) {
        return local(ctx, step).run('front-end', {
          step: label,
          argv: [`${env.locations.remotesDir}/vnm/${driver}/${step.action}`, ...params],
          stdin: encoded,
          signal: ctx.signal,
        });
      }
      for (const warning of env.takeWarnings?.() ?? []) ctx.log('W', warning);
      const remote: RemoteStep = {
        step: label,
        argv: [`${env.locations.scriptsRemoteDir}/vnm/${driver}/${step.action}`, ...params],
        stdin: step.stdin ?? encoded,
        signal: ctx.signal,
      };
      return ctx.runner.run(host, remote);
    };
    const result = await runScript(ctx, step, label, isLocal ? FRONT_END : host, run);
    info += ` ${driver}: ${result.stdout.trim() === '' ? '-' : result.stdout.trim()}`;
    ran.push(`(${driver}) on ${isLocal ? FRONT_END : host}`);
  }
  return { info, detail: ran.length === 0 ? 'ran no network driver (no NIC with a VN_MAD)' : ran.join(', ') };
}

// Runs a driver script: its log lines go to the VM log; a failure becomes the step's message.
async function runScript(
  ctx: ActionContext,
  step: Step,
  label: string,
  where: string,
  run: () => Promise<CommandResult>,
): Promise<CommandResult> {
  try {
    const result = await run();
    for (const log of readScriptStderr(result.stderr).logs) ctx.log(log.severity, log.text);
    return result;
  } catch (error) {
    if (!(error instanceof CommandError)) {
      if (error instanceof TransportError)
        throw new StepFailure(step, `${label}: ${error.message}`, { cause: error });
      throw error;
    }
    const stderr = readScriptStderr(error.stderr);
    for (const log of stderr.logs) ctx.log(log.severity, log.text);
    for (const line of stderr.message) ctx.log('E', line);
    throw new StepFailure(step, describeScriptFailure(error, label, where, failureMessage(stderr)), {
      cause: error,
    });
  }
}

function describeScriptFailure(error: CommandError, label: string, where: string, said: string): string {
  switch (error.reason) {
    case 'timeout':
      return `${label} timed out on ${where} after ${Math.round((error.timeoutMs ?? error.durationMs) / 100) / 10} s`;
    case 'cancelled':
      return `${label} cancelled on ${where}`;
    case 'exit':
    case 'signal': {
      if (error.exitCode === 124 || error.exitCode === 137)
        return `${label} timed out on ${where}: stopped by \`timeout\` there (COMMAND_TIMEOUT)`;
      if ((error.exitCode === 127 || error.exitCode === 126) && /failed to run command/.test(said)) {
        return `${label} failed on ${where}: ${said.replace(/^timeout: /, '')}: the host lacks OpenNebula's remote scripts; run \`onehost sync --force\` on the front-end`;
      }
      const how =
        error.exitCode === null ? `killed by ${error.signal ?? 'a signal'}` : `exit code ${error.exitCode}`;
      return `${label} failed on ${where} (${how})${said === '' ? '' : `: ${said}`}`;
    }
    default:
      return `${label} failed on ${where}: ${error.message}`;
  }
}
