// The driver's options, from oned's ARGUMENTS string (passed as ONE argv element: split it).
import { OnevmmError } from '../util/errors.js';

export interface DriverOptions {
  // -t: actions at once (default 15).
  readonly concurrency: number;
  // -r: retries of transient (transport) failures (default 0).
  readonly retries: number;
  // -w: time limit per action in seconds (undefined: none besides the actions' own).
  readonly timeoutSeconds: number | undefined;
  // -l: actions run locally (accepted; onevmm runs every action from here); `migrate=migrate_local`.
  readonly localActions: ReadonlyMap<string, string | undefined>;
  // -p: allow several actions on one host at once.
  readonly parallelPerHost: boolean;
  readonly hypervisor: string;
}

function count(flag: string, value: string | undefined, min: number): number {
  if (value === undefined || !/^\d+$/.test(value) || Number(value) < min) {
    throw new OnevmmError(
      'USAGE',
      `one_vmm_exec: ${flag} needs a whole number ≥ ${min}, got '${value ?? ''}'`,
    );
  }
  return Number(value);
}

// Parses the driver's arguments; every argv element is split on whitespace first.
export function parseDriverArguments(argv: readonly string[]): DriverOptions {
  const words = argv.flatMap((arg) => arg.split(/\s+/)).filter((word) => word !== '');
  let concurrency = 15;
  let retries = 0;
  let timeoutSeconds: number | undefined;
  const localActions = new Map<string, string | undefined>();
  let parallelPerHost = false;
  let hypervisor: string | undefined;
  for (let i = 0; i < words.length; i++) {
    const word = words[i] ?? '';
    switch (word) {
      case '-t':
        concurrency = count('-t', words[++i], 1);
        break;
      case '-r':
        retries = count('-r', words[++i], 0);
        break;
      case '-w':
        timeoutSeconds = count('-w', words[++i], 1);
        break;
      case '-l':
        for (const item of (words[++i] ?? '').split(',')) {
          const [name, script] = item.split('=');
          if (name !== undefined && name.trim() !== '')
            localActions.set(name.trim().toLowerCase(), script?.trim());
        }
        break;
      case '-p':
        parallelPerHost = true;
        break;
      // -d and -s take a value in OpenNebula's drivers (accepted and ignored); -i is a flag (4.14).
      case '-d':
      case '-s':
        i++;
        break;
      case '-i':
        break;
      default:
        if (word.startsWith('-')) throw new OnevmmError('USAGE', `one_vmm_exec: unknown option '${word}'`);
        hypervisor ??= word;
    }
  }
  return {
    concurrency,
    retries,
    timeoutSeconds,
    localActions,
    parallelPerHost,
    hypervisor: hypervisor ?? 'kvm',
  };
}
