// The protocol actions OpenNebula master runs as step lists, and the list of each.
import type { OnedRequest, StepList } from './request.js';
import type { StepEnv } from './run-steps.js';
import { updateNicSteps, updateSgSteps } from './lists/network.js';
import { backupCancelSteps, backupSteps, diskSnapshotCreateSteps } from './lists/storage.js';
import {
  cleanupSteps,
  deploySteps,
  destroySteps,
  restartSteps,
  restoreSteps,
  saveSteps,
} from './lists/lifecycle.js';
import {
  attachDiskSteps,
  attachNicSteps,
  detachDiskSteps,
  detachNicSteps,
  resizeDiskSteps,
  snapshotRevertSteps,
  updateConfSteps,
} from './lists/hotplug.js';
import { migrateSteps } from './lists/migrate.js';

export const STEP_LISTS: Readonly<Record<string, (request: OnedRequest, env: StepEnv) => StepList>> = {
  DEPLOY: deploySteps,
  SHUTDOWN: (request) => destroySteps(request, 'shutdown'),
  CANCEL: (request) => destroySteps(request, 'cancel'),
  SAVE: saveSteps,
  RESTORE: restoreSteps,
  REBOOT: (request) => restartSteps(request, 'reboot'),
  RESET: (request) => restartSteps(request, 'reset'),
  CLEANUP: cleanupSteps,
  MIGRATE: migrateSteps,
  ATTACHDISK: attachDiskSteps,
  DETACHDISK: detachDiskSteps,
  RESIZEDISK: resizeDiskSteps,
  ATTACHNIC: attachNicSteps,
  DETACHNIC: detachNicSteps,
  UPDATECONF: updateConfSteps,
  SNAPSHOTREVERT: snapshotRevertSteps,
  UPDATESG: updateSgSteps,
  UPDATENIC: updateNicSteps,
  BACKUP: backupSteps,
  BACKUPCANCEL: backupCancelSteps,
  DISKSNAPSHOTCREATE: diskSnapshotCreateSteps,
};
