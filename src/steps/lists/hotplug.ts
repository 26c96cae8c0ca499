// Step lists of the actions on a running VM's devices, as OpenNebula master runs them: ATTACHDISK,
// DETACHDISK, RESIZEDISK, ATTACHNIC, DETACHNIC, UPDATECONF and SNAPSHOTREVERT.
import { getVector, getVectors, type Vector } from '../../template/model.js';
import { isYes } from '../../translate/lookup.js';
import { failAction } from '../../util/errors.js';
import { expecting, type OnedRequest, type StepList } from '../request.js';
import { splitCommand, tm, vmm, vnm, type Step } from '../step.js';
import { contextSteps } from './lifecycle.js';

// DISK[ATTACH=YES]/TARGET, or OpenNebula's refusal.
function attachedDiskTarget(request: OnedRequest): string {
  const disk = getVectors(request.data.vm?.template ?? { attributes: [] }, 'DISK').find((d) =>
    isYes(d['ATTACH']),
  );
  return expecting(request, disk?.['TARGET'], "VM/TEMPLATE/DISK[ATTACH='YES']/TARGET");
}

export function attachDiskSteps(request: OnedRequest): StepList {
  const tmCommand = expecting(request, request.data.tmCommand, 'TM_COMMAND');
  const target = attachedDiskTarget(request);
  const rollback = request.data.tmCommandRollback?.trim() ?? '';
  const { domain, data } = request;
  return {
    main: 'attach_disk',
    steps: [
      tm('tm_attach', tmCommand),
      vmm(
        'attach_disk',
        async (ctx, host) => {
          const { attachDiskFromVm } = await import('../../actions/from-vm.js');
          await attachDiskFromVm(ctx, {
            host,
            domain,
            data,
            defaults: await request.services.defaults(),
            target,
          });
          return '';
        },
        rollback === '' ? {} : { failActions: [tm('tm_detach', splitCommand(rollback))] },
      ),
    ],
  };
}

export function detachDiskSteps(request: OnedRequest): StepList {
  const tmCommand = expecting(request, request.data.tmCommand, 'TM_COMMAND');
  const target = attachedDiskTarget(request);
  const { domain } = request;
  return {
    main: 'detach_disk',
    steps: [
      vmm('detach_disk', async (ctx, host) => {
        const { detachDisk } = await import('../../actions/hotplug.js');
        await detachDisk(ctx, { host, domain, target });
        return '';
      }),
      tm('tm_detach', tmCommand),
    ],
  };
}

export function resizeDiskSteps(request: OnedRequest): StepList {
  const tmCommand = expecting(request, request.data.tmCommand, 'TM_COMMAND');
  const disk = getVectors(request.data.vm?.template ?? { attributes: [] }, 'DISK').find((d) =>
    isYes(d['RESIZE']),
  );
  const size = expecting(request, disk?.['SIZE'], "VM/TEMPLATE/DISK[RESIZE='YES']/SIZE");
  const diskId = expecting(request, disk?.['DISK_ID'], "VM/TEMPLATE/DISK[RESIZE='YES']/DISK_ID");
  const sizeMiB = Number(size);
  if (!Number.isInteger(sizeMiB) || sizeMiB < 1)
    failAction(`Cannot perform ${request.action}: SIZE '${size}' is not a size in MB`);
  const { domain, data } = request;
  return {
    main: 'resize_disk',
    steps: [
      tm('tm_resize', tmCommand),
      vmm('resize_disk', async (ctx, host) => {
        const { resizeDiskFromVm } = await import('../../actions/from-vm.js');
        await resizeDiskFromVm(ctx, { host, domain, data, diskId, sizeMiB });
        return '';
      }),
    ],
  };
}

// The context CD-ROM is ejected, rebuilt by the TM CONTEXT command, and inserted again: the end of
// ATTACHNIC and DETACHNIC, and the whole of UPDATECONF. Without a context there is nothing to do.
function reconfigureSteps(request: OnedRequest, ejectFailActions: readonly Step[] = []): Step[] {
  const target =
    getVector(request.data.vm?.template ?? { attributes: [] }, 'CONTEXT')?.['TARGET']?.trim() ?? '';
  const image = request.data.diskTargetPath?.trim() ?? '';
  const { domain } = request;
  return [
    vmm(
      'prereconfigure',
      async (ctx, host) => {
        if (target === '') return '';
        const { ejectMedia } = await import('../../actions/reconfigure.js');
        await ejectMedia(ctx, { host, domain, target });
        return '';
      },
      ejectFailActions.length === 0 ? {} : { failActions: ejectFailActions },
    ),
    ...contextSteps(request),
    vmm('reconfigure', async (ctx, host) => {
      if (target === '' || image === '') return '';
      const { insertMedia } = await import('../../actions/reconfigure.js');
      await insertMedia(ctx, { host, domain, target, image });
      return '';
    }),
  ];
}

export function updateConfSteps(request: OnedRequest): StepList {
  return { main: 'update_conf', steps: reconfigureSteps(request) };
}

// The NIC being attached or detached: NIC[ATTACH=YES], else PCI[ATTACH=YES], else NIC_ALIAS.
function attachedNic(request: OnedRequest): {
  kind: 'NIC' | 'PCI' | 'NIC_ALIAS';
  vector: Vector | undefined;
} {
  const template = request.data.vm?.template ?? { attributes: [] };
  for (const kind of ['NIC', 'PCI'] as const) {
    const vector = getVectors(template, kind).find((v) => isYes(v['ATTACH']));
    if (vector !== undefined) return { kind, vector };
  }
  return { kind: 'NIC_ALIAS', vector: getVectors(template, 'NIC_ALIAS').find((v) => isYes(v['ATTACH'])) };
}

const detachNicStep = (request: OnedRequest, mac: string): Step =>
  vmm('detach_nic', async (ctx, host) => {
    const { detachNic } = await import('../../actions/hotplug.js');
    await detachNic(ctx, { host, domain: request.domain, mac });
    return '';
  });

// A PCI entry (a NIC passed through) plugged and unplugged as a device of its own.
const attachPciStep = (request: OnedRequest, pci: Vector): Step =>
  vmm('attach_nic', async (ctx, host) => {
    const { attachPci } = await import('../../actions/pci-hotplug.js');
    await attachPci(ctx, { host, domain: request.domain, pci });
    return '';
  });
const detachPciStep = (request: OnedRequest, pci: Vector): Step =>
  vmm('detach_nic', async (ctx, host) => {
    const { detachPci } = await import('../../actions/pci-hotplug.js');
    await detachPci(ctx, { host, domain: request.domain, pci });
    return '';
  });

export function attachNicSteps(request: OnedRequest): StepList {
  const { kind, vector } = attachedNic(request);
  const mac = vector?.['MAC']?.trim() ?? '';
  // OpenNebula needs no MAC for a PCI device (its address names it)
  if (vector === undefined || (mac === '' && kind !== 'PCI'))
    failAction('Missing VN_MAD, BRIDGE, TARGET or MAC in VM NIC');
  const post = (failActions: readonly Step[]): Step =>
    vnm('post', [request.data.deployId ?? '', request.host], failActions.length === 0 ? {} : { failActions });
  if (kind === 'NIC_ALIAS')
    return {
      main: 'attach_nic',
      steps: [vnm('pre'), post([]), ...reconfigureSteps(request, [detachNicStep(request, mac)])],
    };
  if (kind === 'PCI') {
    const undo = [detachPciStep(request, vector)];
    return {
      main: 'attach_nic',
      steps: [vnm('pre'), attachPciStep(request, vector), post(undo), ...reconfigureSteps(request, undo)],
    };
  }
  const { domain, data } = request;
  return {
    main: 'attach_nic',
    steps: [
      vnm('pre'),
      vmm('attach_nic', async (ctx, host) => {
        const { attachNicFromVm } = await import('../../actions/from-vm.js');
        await attachNicFromVm(ctx, { host, domain, data, defaults: await request.services.defaults() });
        return '';
      }),
      post([detachNicStep(request, mac)]),
      ...reconfigureSteps(request, [detachNicStep(request, mac)]),
    ],
  };
}

export function detachNicSteps(request: OnedRequest): StepList {
  const { kind, vector } = attachedNic(request);
  const mac = vector?.['MAC']?.trim() ?? '';
  if (mac === '') failAction(`Error in ${request.action}, MAC needed in NIC`);
  const clean = vnm('clean', [request.host]);
  if (kind === 'NIC_ALIAS') return { main: 'detach_nic', steps: [clean, ...reconfigureSteps(request)] };
  if (kind === 'PCI' && vector !== undefined)
    return {
      main: 'detach_nic',
      steps: [detachPciStep(request, vector), clean, ...reconfigureSteps(request)],
    };
  return { main: 'detach_nic', steps: [detachNicStep(request, mac), clean, ...reconfigureSteps(request)] };
}

// SNAPSHOTREVERT: the domain goes back to the snapshot; the network drivers' post runs again
// (elastic excepted). OpenNebula names this step after the protocol action.
export function snapshotRevertSteps(request: OnedRequest): StepList {
  const snapshot = getVectors(request.data.vm?.template ?? { attributes: [] }, 'SNAPSHOT').find((v) =>
    isYes(v['ACTIVE']),
  );
  const name = expecting(
    request,
    snapshot?.['HYPERVISOR_ID'],
    "VM/TEMPLATE/SNAPSHOT[ACTIVE='YES']/HYPERVISOR_ID",
  );
  const { domain } = request;
  return {
    main: 'SNAPSHOTREVERT',
    steps: [
      vmm('SNAPSHOTREVERT', async (ctx, host) => {
        const { revertSnapshot } = await import('../../actions/snapshots.js');
        await revertSnapshot(ctx, { host, domain, name });
        return '';
      }),
      vnm('post', [request.data.deployId ?? '', request.host], { skip: ['elastic'] }),
    ],
  };
}
