// The command line of one remote step: fixed environment, bounded by `timeout` on the host, every word quoted.
import { OnevmmError } from '../util/errors.js';
import { quote, quoteCommand } from './quote.js';
import type { RemoteStep } from './runner.js';

export interface RemoteCommandSpec {
  readonly argv: readonly string[];
  // The host kills the command (TERM) after this many seconds.
  readonly timeoutSeconds: number;
  // ...and sends KILL this many seconds later if it is still running (default 5).
  readonly killAfterSeconds?: number;
  // Extra variables, set after LC_ALL=C (a value given here for LC_ALL replaces C).
  readonly env?: Readonly<Record<string, string>>;
}

export const DEFAULT_KILL_AFTER_SECONDS = 5;

// A year: long enough for any step, short enough to print without an exponent.
const MAX_SECONDS = 31_536_000;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

// Returns e.g. `LC_ALL=C timeout --kill-after=5s 60s virsh --connect qemu:///system dominfo one-7`.
export function buildRemoteCommand(spec: RemoteCommandSpec): string {
  if (spec.argv.length === 0) throw new OnevmmError('USAGE', 'a remote command needs at least one word');
  const timeout = formatSeconds('timeoutSeconds', spec.timeoutSeconds);
  const killAfter = formatSeconds('killAfterSeconds', spec.killAfterSeconds ?? DEFAULT_KILL_AFTER_SECONDS);
  const env = { LC_ALL: 'C', ...spec.env };
  const assignments = Object.entries(env).map(([name, value]) => `${checkEnvName(name)}=${quote(value)}`);
  return [...assignments, 'timeout', `--kill-after=${killAfter}`, timeout, quoteCommand(spec.argv)].join(' ');
}

function checkEnvName(name: string): string {
  if (!ENV_NAME.test(name)) {
    throw new OnevmmError(
      'USAGE',
      `invalid environment variable name ${JSON.stringify(name)} (letters, digits and _; no leading digit)`,
    );
  }
  return name;
}

// `timeout` takes a duration like 60s or 0.5s (milliseconds at most); 0 would disable it.
function formatSeconds(what: string, seconds: number): string {
  const rounded = Math.round(seconds * 1000) / 1000;
  if (!(rounded > 0 && rounded <= MAX_SECONDS)) {
    throw new OnevmmError('USAGE', `${what} must be from 0.001 to ${MAX_SECONDS} seconds, got ${seconds}`);
  }
  return `${rounded}s`;
}

export interface StepDefaults {
  // COMMAND_TIMEOUT, for steps without their own.
  readonly timeoutSeconds: number;
  readonly killAfterSeconds?: number;
}

// The command line of a runner step.
export function buildStepCommand(step: RemoteStep, defaults: StepDefaults): string {
  return buildRemoteCommand({
    argv: step.argv,
    timeoutSeconds: step.timeoutSeconds ?? defaults.timeoutSeconds,
    ...(defaults.killAfterSeconds === undefined ? {} : { killAfterSeconds: defaults.killAfterSeconds }),
    ...(step.env ? { env: step.env } : {}),
  });
}
