// What each protocol action does with its payload. prepare() reads the payload at once (so a bad
// one is answered straight away) and returns the host and the work to schedule.
import type { ActionContext } from '../actions/context.js';
import type { CpuSampleStore } from '../actions/poll.js';
import { getSingle, type Template } from '../template/model.js';
import { vmDirectoryOf } from '../template/action-paths.js';
import { parseActionData } from '../template/parse-action-data.js';
import type { ActionData } from '../template/vm.js';
import { failAction } from '../util/errors.js';
import { prepareVmAction, VM_ACTIONS } from './vm-handlers.js';

export interface HandlerEnv {
  readonly defaults: () => Promise<Template>;
  readonly samples: CpuSampleStore;
  // Reads a file on the front-end (LOCAL_DEPLOYMENT_FILE with DEPLOYMENT_SOURCE=oned).
  readonly readLocalFile: (path: string) => Promise<string>;
  readonly now: () => number;
  // -l migrate=migrate_local: virsh migrate runs on this machine instead of the source host.
  readonly migrateLocal?: boolean;
}

export interface PreparedAction {
  readonly host: string | undefined;
  // Runs the action; resolves to the reply's info.
  run(ctx: ActionContext): Promise<string>;
}

// Actions of SPEC §2.1 that onevmm does not carry out yet (they get a clear FAILURE).
export const NOT_YET = new Set<string>();

const SUPPORTED = new Set([
  'DEPLOY',
  'SHUTDOWN',
  'CANCEL',
  'REBOOT',
  'RESET',
  'SAVE',
  'RESTORE',
  'POLL',
  'CLEANUP',
  ...VM_ACTIONS,
]);

function requireField(value: string | undefined, name: string): string {
  if (value === undefined || value === '') failAction(`the payload has no ${name}`);
  return value;
}

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
  if (!SUPPORTED.has(action)) failAction('unsupported action');
  if (payload === '') failAction('the request has no payload');
  const data = parseActionData(payload, { file: `${action} payload` });
  const host = requireField(data.host, 'HOST');
  const domain = domainOf(data, vmid);
  switch (action) {
    case 'DEPLOY':
      return { host, run: (ctx) => runDeploy(ctx, data, host, env) };
    case 'SHUTDOWN':
      return {
        host,
        run: async (ctx) =>
          (await import('../actions/shutdown.js')).shutdown(ctx, { host, domain }).then(() => '-'),
      };
    case 'CANCEL':
      return {
        host,
        run: async (ctx) =>
          (await import('../actions/cancel.js')).cancel(ctx, { host, domain }).then(() => '-'),
      };
    case 'CLEANUP':
      return {
        host,
        run: async (ctx) =>
          (await import('../actions/cleanup.js')).cleanup(ctx, { host, domain }).then(() => '-'),
      };
    case 'REBOOT':
      return {
        host,
        run: async (ctx) =>
          (await import('../actions/simple.js')).reboot(ctx, { host, domain }).then(() => '-'),
      };
    case 'RESET':
      return {
        host,
        run: async (ctx) =>
          (await import('../actions/simple.js')).reset(ctx, { host, domain }).then(() => '-'),
      };
    case 'SAVE': {
      const checkpointFile = requireField(data.checkpointFile, 'CHECKPOINT_FILE');
      return {
        host,
        run: async (ctx) =>
          (await import('../actions/save.js')).save(ctx, { host, domain, checkpointFile }).then(() => '-'),
      };
    }
    case 'RESTORE': {
      const checkpointFile = requireField(data.checkpointFile, 'CHECKPOINT_FILE');
      const vmId = Number(vmid);
      return {
        host,
        run: async (ctx) =>
          (await import('../actions/restore.js'))
            .restore(ctx, { host, checkpointFile, vmId })
            .then(() => '-'),
      };
    }
    case 'POLL': {
      const samples = env.samples;
      return {
        host,
        run: async (ctx) =>
          (await (await import('../actions/poll.js')).poll(ctx, { host, domain, samples })).line,
      };
    }
    default:
      return prepareVmAction(action, { host, domain, data, env });
  }
}

async function runDeploy(
  ctx: ActionContext,
  data: ActionData,
  host: string,
  env: HandlerEnv,
): Promise<string> {
  const deploymentFile = requireField(data.remoteDeploymentFile, 'REMOTE_DEPLOYMENT_FILE');
  let domainXml: string;
  if (ctx.config.deploymentSource === 'oned') {
    domainXml = await env.readLocalFile(requireField(data.localDeploymentFile, 'LOCAL_DEPLOYMENT_FILE'));
  } else {
    const vm = data.vm ?? failAction('the payload has no <VM>');
    const { translateVm } = await import('../translate/translate-vm.js');
    const systemDir = vmDirectoryOf(data);
    const result = translateVm(vm, {
      defaults: await env.defaults(),
      ...(systemDir === undefined ? {} : { systemDir }),
      domainType: vm.history?.vmMad === 'qemu' ? 'qemu' : 'kvm',
      deploymentTime: Math.floor(env.now() / 1000),
      ...(data.datastore === undefined
        ? {}
        : { systemDatastoreDiskType: getSingle(data.datastore.template, 'DISK_TYPE') }),
    });
    for (const warning of result.warnings) ctx.log('W', warning);
    domainXml = result.xml;
  }
  const { deploy } = await import('../actions/deploy.js');
  return (await deploy(ctx, { host, domainXml, deploymentFile })).uuid;
}
