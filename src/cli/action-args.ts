// The shapes of the action executables (arguments, input, output) and the argument helpers
// shared by every action's definition.
import type { ActionContext } from '../actions/context.js';
import { OnevmmError } from '../util/errors.js';

export interface DryRunAssumptions {
  readonly disks?: readonly string[];
  readonly nics?: readonly string[];
  readonly snapshots?: readonly string[];
}

export interface ActionOutput {
  // What goes to stdout (the UUID, the poll line…); '' for nothing.
  readonly output: string;
  // The output is written as is, without a newline added (`exec --wait`: what the guest printed).
  readonly raw?: boolean;
  readonly json: Record<string, unknown>;
  // The process's exit code when the action succeeded (`exec --wait`: the guest command's); 0 if absent.
  readonly exitCode?: number;
  // Written to stderr as is (`exec --wait`: the guest command's stderr).
  readonly stderr?: string;
}

export interface ActionInput {
  readonly stdin: string;
  readonly flags: ReadonlyMap<string, string | true>;
  // Rewrites one status line on a terminal (migration progress); absent when stderr is not a TTY.
  readonly progress?: (text: string) => void;
}

export interface RemoteAction {
  readonly usage: string;
  readonly help: string;
  readonly readsStdin: boolean;
  // Deploy and restore start from no domain (matters for --dry-run only).
  readonly createsDomain: boolean;
  // --dry-run: what the domain is taken to have before the action (the disk or NIC a detach
  // removes, the snapshot a revert goes to), so that the plan shows the commands that would run.
  readonly dryRunAssumes?: (request: Readonly<Record<string, string>>) => DryRunAssumptions;
  parse(positional: readonly string[], flags: ReadonlyMap<string, string | true>): Record<string, string>;
  run(ctx: ActionContext, request: Record<string, string>, input: ActionInput): Promise<ActionOutput>;
}

export function usage(message: string): never {
  throw new OnevmmError('USAGE', message);
}

// Names the positional arguments; the host is the last one (OpenNebula appends `<vmid> <host>`).
export function take(
  names: readonly string[],
  positional: readonly string[],
  action: string,
): Record<string, string> {
  if (positional.length < names.length) {
    usage(
      `${action}: expected ${names.map((n) => `<${n}>`).join(' ')}, got ${positional.length} argument(s); see --help`,
    );
  }
  const request: Record<string, string> = {};
  names.forEach((name, i) => (request[name] = positional[i] ?? ''));
  return request;
}

// `<deploy_id> [<host>] <vmid> <host>`: OpenNebula's driver passes the deploy id and the host,
// then appends `<vmid> <host>`; the host is always the last argument.
export function takeDomain(positional: readonly string[], action: string): Record<string, string> {
  if (positional.length < 3) {
    usage(
      `${action}: expected <deploy_id> [<host>] <vmid> <host>, got ${positional.length} argument(s); see --help`,
    );
  }
  return { deploy_id: positional[0] ?? '', vmid: positional.at(-2) ?? '', host: positional.at(-1) ?? '' };
}

export const none = (json: Record<string, unknown> = {}): ActionOutput => ({ output: '', json });
