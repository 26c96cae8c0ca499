// Step lists of the lifecycle actions, as OpenNebula master's one_vmm_exec.rb runs them:
// DEPLOY, SHUTDOWN, CANCEL, SAVE, RESTORE, REBOOT, RESET and CLEANUP.
import type { ActionContext } from '../../actions/context.js';
import { failAction } from '../../util/errors.js';
import { expecting, type OnedRequest, type StepList } from '../request.js';
import { infoOf, splitCommand, tm, vmm, vnm, type Step, type VmmStep } from '../step.js';

// The TM CONTEXT command oned put in the payload (it builds the context ISO), when the VM has one.
export function contextSteps(request: OnedRequest): Step[] {
  const command = request.data.tmCommand?.trim() ?? '';
  return command === '' ? [] : [tm('tm_context', command)];
}

const cancelStep = (domain: (info: (action: string) => string) => string): VmmStep =>
  vmm('cancel', async (ctx, host, info) => {
    const { cancel } = await import('../../actions/cancel.js');
    await cancel(ctx, { host, domain: domain(info) });
    return '';
  });

// The domain XML of a DEPLOY: the file oned wrote (DEPLOYMENT_SOURCE=oned, the default: it alone
// carries the host and cluster attributes), or onevmm's translation of the payload's <VM>.
async function deploymentXml(ctx: ActionContext, request: OnedRequest): Promise<string> {
  const { data, services } = request;
  if (ctx.config.deploymentSource === 'oned') {
    const file = data.localDeploymentFile ?? '';
    let text = '';
    try {
      text = file === '' ? '' : await services.readLocalFile(file);
    } catch (error) {
      failAction(
        `Cannot open deployment file ${file}: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    if (text.trim() === '') failAction(`Cannot open deployment file ${file}`);
    return text;
  }
  const vm = data.vm ?? failAction('Cannot perform DEPLOY, expecting VM');
  const [{ translateVm }, { translateOptions }] = await Promise.all([
    import('../../translate/translate-vm.js'),
    import('../../actions/from-vm.js'),
  ]);
  const result = translateVm(vm, {
    ...translateOptions(data, vm, await services.defaults()),
    deploymentTime: Math.floor(services.now() / 1000),
  });
  for (const warning of result.warnings) ctx.log('W', warning);
  return result.xml;
}

export function deploySteps(request: OnedRequest): StepList {
  const deploymentFile = expecting(request, request.data.remoteDeploymentFile, 'REMOTE_DEPLOYMENT_FILE');
  const companions = { 'vm.xml': request.data.vmXml ?? '', 'ds.xml': request.data.datastoreXml ?? '' };
  let domainXml = '';
  return {
    main: 'deploy',
    before: async (ctx) => {
      domainXml = await deploymentXml(ctx, request);
    },
    steps: [
      ...contextSteps(request),
      vnm('pre'),
      vmm(
        'deploy',
        async (ctx, host) => {
          const { deploy } = await import('../../actions/deploy.js');
          return (await deploy(ctx, { host, domainXml, deploymentFile, companions })).uuid;
        },
        { failActions: [vnm('clean', [request.host])] },
      ),
      vnm('post', [infoOf('deploy'), request.host], {
        failActions: [cancelStep((info) => info('deploy')), vnm('clean', [request.host])],
      }),
    ],
  };
}

// SHUTDOWN and CANCEL: the domain goes, then the network is cleaned up.
export function destroySteps(request: OnedRequest, how: 'shutdown' | 'cancel'): StepList {
  const { domain } = request;
  const stop =
    how === 'cancel'
      ? cancelStep(() => domain)
      : vmm('shutdown', async (ctx, host) => {
          const { shutdown } = await import('../../actions/shutdown.js');
          await shutdown(ctx, { host, domain });
          return '';
        });
  return { main: how, steps: [stop, vnm('clean', [request.host])] };
}

export function saveSteps(request: OnedRequest): StepList {
  const checkpointFile = expecting(request, request.data.checkpointFile, 'CHECKPOINT_FILE');
  const { domain } = request;
  return {
    main: 'save',
    steps: [
      vmm('save', async (ctx, host) => {
        const { save } = await import('../../actions/save.js');
        await save(ctx, { host, domain, checkpointFile });
        return '';
      }),
      vnm('clean', [request.host]),
    ],
  };
}

export function restoreSteps(request: OnedRequest): StepList {
  const checkpointFile = expecting(request, request.data.checkpointFile, 'CHECKPOINT_FILE');
  const deployId = request.data.deployId ?? '';
  return {
    main: 'restore',
    steps: [
      ...contextSteps(request),
      vnm('pre'),
      vmm('restore', async (ctx, host) => {
        const { restore } = await import('../../actions/restore.js');
        await restore(ctx, { host, checkpointFile, vmId: Number(request.vmid) });
        return '';
      }),
      vnm('post', [deployId, request.host], { failActions: [cancelStep(() => request.domain)] }),
    ],
  };
}

export function restartSteps(request: OnedRequest, how: 'reboot' | 'reset'): StepList {
  const { domain } = request;
  return {
    main: how,
    steps: [
      vmm(how, async (ctx, host) => {
        const simple = await import('../../actions/simple.js');
        await (how === 'reboot' ? simple.reboot : simple.reset)(ctx, { host, domain });
        return '';
      }),
    ],
  };
}

// CLEANUP: whatever is left of the VM goes from the host (and from the other host of a cancelled
// migration), then one TM DELETE per line of TM_COMMAND. Every step is no_fail.
export function cleanupSteps(request: OnedRequest): StepList {
  const { data, domain } = request;
  const steps: Step[] = [];
  if ((data.deployId ?? '') !== '') steps.push({ ...cancelStep(() => domain), noFail: true });
  steps.push(vnm('clean', [request.host], { noFail: true }));
  if ((data.migrHost ?? '') !== '') {
    steps.push({ ...cancelStep(() => domain), where: 'destination', noFail: true });
    steps.push(vnm('clean', [request.host], { where: 'destination', noFail: true }));
  }
  for (const line of (data.tmCommand ?? '').split('\n')) {
    if (line.trim() !== '') steps.push(tm('tm_delete', splitCommand(line), { noFail: true }));
  }
  return { main: 'cleanup', steps };
}
