// Test helpers for the protocol driver: a Driver around a FakeRunner with captured reply lines, the
// shipped defaults, and request lines built from test/fixtures/vm-xml/deploy-42.xml.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { CpuSampleStore } from '../../src/actions/poll.js';
import { readKvmConfig } from '../../src/config/kvm-config.js';
import { parseDriverArguments } from '../../src/driver/arguments.js';
import { Driver } from '../../src/driver/driver.js';
import { FakeRunner, type FakeReply } from '../../src/host/fake-runner.js';
import type { HostRunner } from '../../src/host/runner.js';
import type { CpuSample } from '../../src/monitor/poll-line.js';
import { toReplaceMode, type Template } from '../../src/template/model.js';
import { parseTemplate } from '../../src/template/parse-template.js';

export const ROOT = path.join(import.meta.dirname, '../..');
const DEFAULTS_PATH = path.join(ROOT, 'etc/vmm_exec/vmm_exec_kvm.conf');

// The shipped defaults, parsed once (as main.ts does: replace mode).
export const SHIPPED_DEFAULTS: Template = toReplaceMode(
  parseTemplate(readFileSync(DEFAULTS_PATH, 'utf8'), { file: DEFAULTS_PATH }),
);

// The DEPLOY payload of VM 42 on node2 (VMM_DRIVER_ACTION_DATA), as XML.
export const DEPLOY_42_XML = readFileSync(path.join(ROOT, 'test/fixtures/vm-xml/deploy-42.xml'), 'utf8');
export const DEPLOY_FILE_42 = '/var/lib/one//datastores/100/42/deployment.1';
export const UUID_42 = '0b3f8c1e-6a2d-4d47-9f5e-2c8a71d0e942';
// The deployment file oned wrote for VM 42 (read with DEPLOYMENT_SOURCE=oned, the default): the
// front-end files of the harness unless a test gives its own.
export const ONED_XML_42 = "<domain type='kvm'><name>one-42</name></domain>";
export const ONED_FILES_42: Readonly<Record<string, string>> = {
  '/var/lib/one/vms/42/deployment.1': ONED_XML_42,
};

export function base64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

// A request line as oned ≥6.0 writes it: two spaces after the action.
export function requestLine(action: string, vmid: string | number, payloadXml: string): string {
  return `${action}  ${vmid} ${base64(payloadXml)}`;
}

// A minimal VMM_DRIVER_ACTION_DATA for the actions that need only HOST, DEPLOY_ID and CHECKPOINT_FILE.
export function actionData(fields: {
  readonly host?: string;
  readonly deployId?: string;
  readonly checkpointFile?: string;
  readonly vmId?: number;
}): string {
  const element = (name: string, value: string | undefined): string =>
    value === undefined ? `<${name}/>` : `<${name}>${value}</${name}>`;
  return [
    '<VMM_DRIVER_ACTION_DATA>',
    element('HOST', fields.host),
    '<MIGR_HOST/>',
    element('DEPLOY_ID', fields.deployId),
    '<LOCAL_DEPLOYMENT_FILE/><REMOTE_DEPLOYMENT_FILE/>',
    element('CHECKPOINT_FILE', fields.checkpointFile),
    '<TM_COMMAND/><TM_COMMAND_ROLLBACK/><DISK_TARGET_PATH/>',
    `<VM><ID>${fields.vmId ?? 42}</ID><NAME>vm</NAME><DEPLOY_ID>${fields.deployId ?? ''}</DEPLOY_ID><TEMPLATE/></VM>`,
    '</VMM_DRIVER_ACTION_DATA>',
  ].join('');
}

export interface DriverHarness {
  readonly driver: Driver;
  readonly runner: FakeRunner;
  // Every line written, in order.
  readonly lines: string[];
  readonly samples: Map<string, CpuSample>;
  // Feeds lines; returns what handleLine returned for the last one.
  readonly feed: (...lines: string[]) => 'continue' | 'finalize';
  // Resolves once a written line matches (or rejects after `ms`).
  readonly waitFor: (match: string | RegExp, ms?: number) => Promise<string>;
  // The lines written since the given index.
  readonly since: (index: number) => string[];
  // The lines written, without the LOG lines of the steps (success, failure, timing).
  readonly replies: () => string[];
}

export interface HarnessOptions {
  // oned's ARGUMENTS string; default "-t 15 -r 0 kvm -p".
  readonly args?: string;
  // kvmrc variables for readKvmConfig.
  readonly vars?: Readonly<Record<string, string>>;
  readonly runner?: FakeRunner;
  // Wraps the FakeRunner before the Driver gets it (e.g. withRetries).
  readonly wrapRunner?: (runner: FakeRunner) => HostRunner;
  readonly localFiles?: Readonly<Record<string, string>>;
}

// A LOG line the step runner writes for each step: OpenNebula's success/failure line, or its timing.
export function isStepLog(line: string): boolean {
  return (
    /^LOG D /.test(line) ||
    /^LOG [IE] \d+ (Successfully execute|Failed to execute) .* operation: .*\.$/.test(line)
  );
}

// The front-end's remotes tree in these tests, with the TM scripts of OpenNebula master's shared
// and ssh drivers (a CLONE.ssh finds shared/clone.ssh; a DELETE.ssh finds shared/delete).
export const REMOTES = '/var/lib/one/remotes';
const TM_SCRIPTS = {
  shared:
    'clone clone.ssh context cpds cpds.ssh delete failmigrate ln ln.ssh mkimage mkswap mv mv.ssh mvds mvds.ssh postbackup postbackup_live postmigrate prebackup prebackup_live premigrate resize restore snap_create snap_create.ssh snap_create_live snap_delete snap_revert',
  ssh: 'clone context cpds delete failmigrate ln mkimage mkswap mv mvds postbackup postbackup_live postmigrate prebackup prebackup_live premigrate resize restore snap_create snap_create_live snap_delete snap_revert',
};
const REMOTE_SCRIPTS = new Set([
  ...Object.entries(TM_SCRIPTS).flatMap(([tm, names]) =>
    names.split(' ').map((name) => `${REMOTES}/tm/${tm}/${name}`),
  ),
  `${REMOTES}/datastore/rsync/backup`,
  `${REMOTES}/datastore/rsync/backup_cancel`,
]);

// OpenNebula's TM, VNM and DS scripts succeed, printing nothing, unless a test scripts them: the
// FakeRunner still records every call.
function driverScriptsSucceed(runner: FakeRunner): HostRunner {
  return {
    run: async (host, step) => {
      try {
        return await runner.run(host, step);
      } catch (error) {
        const script = step.argv[0] ?? '';
        if (!/\/(vnm|tm|datastore)\//.test(script) || !String(error).includes('no reply scripted'))
          throw error;
        return {
          host,
          step: step.step,
          command: script,
          exitCode: 0,
          signal: null,
          stdout: '',
          stderr: '',
          durationMs: 0,
        };
      }
    },
  };
}

// A Driver with a FakeRunner, the shipped defaults, a Map-backed CPU sample store and captured output.
export function createDriver(options: HarnessOptions = {}): DriverHarness {
  const runner = options.runner ?? new FakeRunner();
  const lines: string[] = [];
  const listeners: (() => void)[] = [];
  const samples = new Map<string, CpuSample>();
  const store: CpuSampleStore = {
    get: (host, domain) => samples.get(`${host}\u0000${domain}`),
    set: (host, domain, sample) => {
      samples.set(`${host}\u0000${domain}`, sample);
    },
  };
  const driverOptions = parseDriverArguments([options.args ?? '-t 15 -r 0 kvm -p']);
  const scripts = driverScriptsSucceed(runner);
  const driver = new Driver({
    options: driverOptions,
    config: readKvmConfig({ SHUTDOWN_TIMEOUT: '5', ...options.vars }),
    runner: options.wrapRunner === undefined ? scripts : options.wrapRunner(runner),
    local: scripts,
    write: (line) => {
      lines.push(line);
      for (const listener of listeners.slice()) listener();
    },
    env: {
      defaults: () => Promise.resolve(SHIPPED_DEFAULTS),
      samples: store,
      readLocalFile: (file) => {
        const text = (options.localFiles ?? ONED_FILES_42)[file];
        return text === undefined
          ? Promise.reject(new Error(`ENOENT: no such file, open '${file}'`))
          : Promise.resolve(text);
      },
      now: () => 1_718_900_000_000,
      migrateLocal: driverOptions.localActions.get('migrate') === 'migrate_local',
      steps: {
        locations: { remotesDir: REMOTES, scriptsRemoteDir: '/var/tmp/one' },
        localActions: new Set([...driverOptions.localActions.keys()].map((name) => name.toUpperCase())),
        vnmadLocalActions: new Set(),
        liveDiskSnapshots: new Set(['kvm-qcow2', 'kvm-shared', 'kvm-ssh']),
        tmTimeoutSeconds: 3600,
        isDirectory: (dir) => [...REMOTE_SCRIPTS].some((file) => file.startsWith(`${dir}/`)),
        isFile: (file) => REMOTE_SCRIPTS.has(file),
      },
    },
  });
  const waitFor = (match: string | RegExp, ms = 5000): Promise<string> =>
    new Promise((resolve, reject) => {
      const test = (line: string): boolean =>
        typeof match === 'string' ? line.includes(match) : match.test(line);
      const found = lines.find(test);
      if (found !== undefined) return resolve(found);
      const timer = setTimeout(() => {
        remove();
        reject(new Error(`no line matching ${String(match)} within ${ms} ms; got:\n${lines.join('\n')}`));
      }, ms);
      const listener = (): void => {
        const line = lines.find(test);
        if (line === undefined) return;
        clearTimeout(timer);
        remove();
        resolve(line);
      };
      const remove = (): void => {
        const at = listeners.indexOf(listener);
        if (at >= 0) listeners.splice(at, 1);
      };
      listeners.push(listener);
    });
  return {
    driver,
    runner,
    lines,
    samples,
    feed: (...input) => {
      let outcome: 'continue' | 'finalize' = 'continue';
      for (const line of input) outcome = driver.handleLine(line);
      return outcome;
    },
    waitFor,
    since: (index) => lines.slice(index),
    replies: () => lines.filter((line) => !isStepLog(line)),
  };
}

// Scripts the FakeRunner for a fresh DEPLOY of one-42 on node2: not defined yet, write, create, domuuid.
export function scriptDeploy42(runner: FakeRunner, uuid = UUID_42): FakeRunner {
  return runner
    .reply('domstate -- one-42', {
      exitCode: 1,
      stdout: '\n',
      stderr: "error: failed to get domain 'one-42'\n",
    })
    .reply("sh -c 'dir=", {})
    .reply(`create -- ${DEPLOY_FILE_42}`, { stdout: `Domain 'one-42' created from ${DEPLOY_FILE_42}\n\n` })
    .reply('domuuid -- one-42', { stdout: `${uuid}\n\n` });
}

// A reply that never comes: the call stays pending until its step's signal aborts, then fails as
// a killed command would.
export function hangUntilAborted(): FakeReply {
  return (call) =>
    new Promise<FakeReply>((resolve) => {
      const signal = call.step.signal;
      if (signal === undefined) return; // never resolves: the test must not rely on this
      const finish = (): void => resolve(new Error(`${call.step.step} cancelled on ${call.host}`));
      if (signal.aborted) finish();
      else signal.addEventListener('abort', finish, { once: true });
    });
}

// A reply the test releases by hand: `reply` goes to the FakeRunner, `release(r)` answers with r.
export function deferredReply(): {
  readonly reply: FakeReply;
  release(reply?: FakeReply): void;
  readonly calls: number;
} {
  const waiting: ((reply: FakeReply) => void)[] = [];
  let calls = 0;
  return {
    reply: () => {
      calls++;
      return new Promise<FakeReply>((resolve) => waiting.push(resolve));
    },
    release: (reply = {}) => {
      const next = waiting.shift();
      if (next === undefined) throw new Error('deferredReply: no call is waiting');
      next(reply);
    },
    get calls() {
      return calls;
    },
  };
}

// Resolves once the predicate holds (checked every few ms), or rejects after `ms`.
export async function until(predicate: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms: ${String(predicate)}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

// Waits for all pending promise callbacks and timers scheduled "now".
export function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
