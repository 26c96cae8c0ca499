// BACKUP, BACKUPCANCEL and DISKSNAPSHOTCREATE, as OpenNebula master runs them: TM and datastore
// driver steps only, on the front-end.
import { getVectors } from '../../template/model.js';
import { isYes } from '../../translate/lookup.js';
import { failAction } from '../../util/errors.js';
import { expecting, type OnedRequest, type StepList } from '../request.js';
import type { StepEnv } from '../run-steps.js';
import { ds, splitCommand, tm, type Step } from '../step.js';

// LCM state of a running VM's backup (BACKUP): its TM steps are the _LIVE ones.
const LCM_BACKUP = 69;

function datastoreMad(request: OnedRequest): string {
  const mad = /<DS_MAD>(?:<!\[CDATA\[)?([^<\]]*)(?:\]\]>)?<\/DS_MAD>/.exec(
    request.data.datastoreXml ?? '',
  )?.[1];
  return expecting(request, mad, 'DATASTORE/DS_MAD');
}

// BACKUP: the TM makes the backup files (PRE…), the datastore driver uploads them (BACKUP), the
// TM cleans up (POST…); a failure cleans up with <BACKUP_RESULT>FAILURE</BACKUP_RESULT> in the
// VM. The reply is the datastore driver's: `<backup id> <size MB> [<format>]`.
export function backupSteps(request: OnedRequest): StepList {
  const [command = '', ...rest] = splitCommand(expecting(request, request.data.tmCommand, 'TM_COMMAND'));
  const mad = datastoreMad(request);
  const live = request.data.vm?.lcmState === LCM_BACKUP ? '_LIVE' : '';
  const pre = [`PRE${command}${live}`, ...rest];
  const post = [`POST${command}${live}`, ...rest];
  const vm = request.data.vmXml ?? '';
  const failedVm = vm.replace(/<\/VM>\s*$/, '<BACKUP_RESULT>FAILURE</BACKUP_RESULT></VM>');
  const postName = `postbackup${live.toLowerCase()}`;
  const cleanupAfterFailure: Step[] = [tm(postName, post, { stdin: failedVm })];
  return {
    main: 'backup',
    steps: [
      tm(`prebackup${live.toLowerCase()}`, pre, { stdin: vm, failActions: cleanupAfterFailure }),
      ds('backup', ['BACKUP', mad, ...rest.slice(1)], {
        stdin: `<DS_DRIVER_ACTION_DATA>\n  ${request.data.datastoreXml ?? ''}\n  ${vm}\n</DS_DRIVER_ACTION_DATA>\n`,
        failActions: cleanupAfterFailure,
      }),
      tm(postName, post, { stdin: vm }),
    ],
  };
}

// BACKUPCANCEL: the datastore driver stops the VM's running backup; it runs beside it.
export function backupCancelSteps(request: OnedRequest): StepList {
  const [, , ...args] = splitCommand(expecting(request, request.data.tmCommand, 'TM_COMMAND'));
  return {
    main: 'backup_cancel',
    alongside: true,
    steps: [
      ds('backup_cancel', ['BACKUP_CANCEL', datastoreMad(request), ...args], {
        stdin: request.data.vmXml ?? '',
      }),
    ],
  };
}

// DISKSNAPSHOTCREATE of a running VM: the TM's snapshot command with _LIVE (snap_create becomes
// snap_create_live, SNAP_CREATE.ssh becomes SNAP_CREATE_LIVE.ssh), when the VM_MAD-TM_MAD pair is
// in LIVE_DISK_SNAPSHOTS; otherwise OpenNebula's refusal.
export function diskSnapshotCreateSteps(request: OnedRequest, env: StepEnv): StepList {
  const vm = request.data.vm;
  const vmMad = expecting(request, vm?.history?.vmMad, 'VM/HISTORY_RECORDS/HISTORY/VM_MAD');
  const disk = getVectors(vm?.template ?? { attributes: [] }, 'DISK').find((d) =>
    isYes(d['DISK_SNAPSHOT_ACTIVE']),
  );
  let tmMad = expecting(request, disk?.['TM_MAD'], "VM/TEMPLATE/DISK[DISK_SNAPSHOT_ACTIVE='YES']/TM_MAD");
  if (tmMad === 'fs_lvm_ssh' && disk?.['LVM_THIN_ENABLE']?.trim().toLowerCase() === 'yes') tmMad = 'lvm_thin';
  if (!env.liveDiskSnapshots.has(`${vmMad}-${tmMad}`))
    failAction(`Cannot perform a live ${request.action} operation`);
  const [command = '', ...rest] = splitCommand(expecting(request, request.data.tmCommand, 'TM_COMMAND'));
  const live = command.includes('.') ? command.replace('.', '_LIVE.') : `${command}_LIVE`;
  return { main: 'disk_snapshot_create', steps: [tm('tm_snap_create_live', [live, ...rest])] };
}
