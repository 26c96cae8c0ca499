// What the steps of oned's requests need from the process that runs them (the driver, or
// `onevmm request`): the defaults file (read once, when first needed), CPU samples kept in
// memory, files on the front-end, and where OpenNebula's scripts are.
import { readFile } from 'node:fs/promises';
import type { CpuSample } from '../monitor/poll-line.js';
import type { HandlerEnv } from '../steps/prepare.js';
import { loadStepEnv } from '../steps/step-env.js';
import type { Template } from '../template/model.js';
import { loadDefaults } from './load-vm.js';
import { resolveDefaultsPath } from './paths.js';

export function createHandlerEnv(options: {
  // --defaults, else ONEVMM_DEFAULTS, else the checkout's file
  readonly defaults: string | undefined;
  // -l: the actions run on the front-end
  readonly localActions: ReadonlyMap<string, string | undefined>;
  readonly tmTimeoutSeconds: number;
}): HandlerEnv {
  let defaults: Promise<Template> | undefined;
  const samples = new Map<string, CpuSample>();
  return {
    defaults: () => (defaults ??= loadDefaults(resolveDefaultsPath(options.defaults))),
    samples: {
      get: (host, domain) => samples.get(`${host}\u0000${domain}`),
      set: (host, domain, sample) => samples.set(`${host}\u0000${domain}`, sample),
    },
    readLocalFile: (path) => readFile(path, 'utf8'),
    now: () => Date.now(),
    migrateLocal: options.localActions.get('migrate') === 'migrate_local',
    steps: loadStepEnv(process.env, options.localActions, options.tmTimeoutSeconds),
  };
}
