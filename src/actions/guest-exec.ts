// EXEC and EXEC_CANCEL: a command in the guest through the QEMU guest agent, as OpenNebula 7.2+
// runs it. `guest-exec` starts the command and answers its pid at once; the pid is written to
// /var/run/one/one-<vmid> on the host, under the lock /var/run/one/.exec-lock. The result is not
// the driver's to return: OpenNebula's monitor probe on the host (kvm-probes.d/vm/execution)
// finds the file, asks the agent for `guest-exec-status` and sends oned the exit code, stdout and
// stderr (QEMU_GA_EXEC/{RETURN_CODE,STDOUT,STDERR}). EXEC_CANCEL kills the pid in the guest
// (`kill -9`) and removes the file. `onevmm exec --wait` collects the result itself instead.
import { split } from 'shlex';
import type { RemoteStep } from '../host/runner.js';
import { virsh, type ActionContext } from './context.js';
import { failAction } from '../util/errors.js';

// Where OpenNebula's node keeps the pid files and their lock (the monitor probe reads them there).
export const EXEC_DIR = '/var/run/one';
// Seconds libvirt waits for the agent's answer (a hung agent fails instead of hanging the action).
export const AGENT_TIMEOUT_SECONDS = 10;

export interface GuestCommand {
  readonly path: string;
  readonly args: readonly string[];
}

// The command as the guest runs it: split into words as a POSIX shell would (quotes and
// backslashes; no expansion, no operators). OpenNebula splits twice, so a quoted argument with a
// blank in it falls apart there (`sh -c 'a; b'` runs `sh -c a; b`); here it stays one argument.
export function guestCommand(command: string): GuestCommand {
  let words: string[];
  try {
    words = split(command);
  } catch (error) {
    failAction(`the command cannot be split into words (${(error as Error).message}): ${command}`);
  }
  const [path, ...args] = words;
  if (path === undefined) failAction('the command is empty');
  return { path, args };
}

// STDIN travels base64 (oned keeps what `onevm exec --stdin` encoded); anything else is refused
// here instead of being half-decoded by the agent.
export function checkedStdin(stdin: string | undefined): string | undefined {
  const text = (stdin ?? '').replace(/\s+/g, '');
  if (text === '') return undefined;
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text))
    failAction("the command's stdin is not base64 (onevm exec --stdin encodes it)");
  return text;
}

// The agent command as JSON, from a serializer.
export function guestExecJson(command: GuestCommand, stdin: string | undefined, capture = true): string {
  return JSON.stringify({
    execute: 'guest-exec',
    arguments: {
      path: command.path,
      arg: command.args,
      'capture-output': capture,
      ...(stdin === undefined ? {} : { 'input-data': stdin }),
    },
  });
}

// Under the lock: run the agent command ("$@"), take the pid from its answer, write the pid file.
// (Exported for the tests, which run it in a real shell.)
export const START_SCRIPT = `set -e
dir=$1 vmid=$2
shift 2
mkdir -p "$dir"
exec 9>"$dir/.exec-lock"
flock 9
reply=$("$@")
pid=$(printf '%s\\n' "$reply" | sed -n 's/^.*"pid":[[:space:]]*\\([0-9][0-9]*\\).*$/\\1/p')
if [ -z "$pid" ]; then echo "guest-exec answered without a pid: $reply" >&2; exit 1; fi
printf '%s' "$pid" >"$dir/one-$vmid"
printf '%s\\n' "$reply"`;

// Under the lock: no pid file (or an empty one) is nothing to cancel; otherwise kill -9 the pid in
// the guest and remove the file. Prints the pid it killed, or nothing.
export const CANCEL_SCRIPT = `set -e
dir=$1 vmid=$2 uri=$3 dom=$4 timeout=$5
[ -d "$dir" ] || exit 0
exec 9>"$dir/.exec-lock"
flock 9
f=$dir/one-$vmid
[ -f "$f" ] || exit 0
pid=$(cat "$f")
[ -n "$pid" ] || exit 0
case $pid in *[!0-9]*) echo "$f holds no pid: $pid" >&2; exit 1 ;; esac
virsh --connect "$uri" qemu-agent-command --timeout "$timeout" -- "$dom" \\
  '{"execute":"guest-exec","arguments":{"path":"kill","arg":["-9","'"$pid"'"]}}' >/dev/null
rm -f "$f"
echo "$pid"`;

function pidOf(reply: string, host: string): number {
  let parsed: unknown;
  try {
    parsed = JSON.parse(reply);
  } catch {
    failAction(`guest-exec on ${host} answered no JSON: ${reply}`);
  }
  const pid = (parsed as { return?: { pid?: unknown } }).return?.pid;
  if (typeof pid !== 'number') failAction(`guest-exec on ${host} answered no pid: ${reply}`);
  return pid;
}

// `virsh qemu-agent-command` with a time limit for the agent's answer.
function agentStep(ctx: ActionContext, step: string, domain: string, json: string): RemoteStep {
  return virsh(ctx, step, [
    'qemu-agent-command',
    '--timeout',
    String(AGENT_TIMEOUT_SECONDS),
    '--',
    domain,
    json,
  ]);
}

export interface ExecRequest {
  readonly host: string;
  readonly domain: string;
  readonly vmid: string;
  readonly command: string;
  // Base64, as oned passes it.
  readonly stdin?: string | undefined;
  // False: no pid file (`onevmm exec --wait` reaps the result itself).
  readonly pidFile?: boolean;
}

// Starts the command; resolves to its pid in the guest.
export async function startGuestCommand(ctx: ActionContext, request: ExecRequest): Promise<number> {
  const command = guestCommand(request.command);
  const json = guestExecJson(command, checkedStdin(request.stdin));
  const agent = agentStep(ctx, 'guest-exec', request.domain, json);
  if (request.pidFile === false) {
    const result = await ctx.runner.run(request.host, { ...agent, retry: false });
    return pidOf(result.stdout.trim(), request.host);
  }
  if (!/^\d+$/.test(request.vmid)) failAction(`EXEC needs the VM id for ${EXEC_DIR}/one-<vmid>`);
  const result = await ctx.runner.run(request.host, {
    step: 'guest-exec',
    argv: ['sh', '-c', START_SCRIPT, 'sh', EXEC_DIR, request.vmid, ...agent.argv],
    signal: ctx.signal,
    retry: false,
  });
  return pidOf(result.stdout.trim(), request.host);
}

// Kills the command EXEC started (if its pid file is still there); resolves to the pid killed.
export async function cancelGuestCommand(
  ctx: ActionContext,
  request: { readonly host: string; readonly domain: string; readonly vmid: string },
): Promise<number | undefined> {
  if (!/^\d+$/.test(request.vmid)) failAction(`EXEC_CANCEL needs the VM id for ${EXEC_DIR}/one-<vmid>`);
  const result = await ctx.runner.run(request.host, {
    step: 'guest-exec kill',
    argv: [
      'sh',
      '-c',
      CANCEL_SCRIPT,
      'sh',
      EXEC_DIR,
      request.vmid,
      ctx.config.libvirtUri,
      request.domain,
      String(AGENT_TIMEOUT_SECONDS),
    ],
    signal: ctx.signal,
  });
  const pid = result.stdout.trim();
  return pid === '' ? undefined : Number(pid);
}

export interface GuestCommandResult {
  readonly pid: number;
  // null when a signal ended it.
  readonly exitCode: number | null;
  readonly signal: number | null;
  readonly stdout: Buffer;
  readonly stderr: Buffer;
  readonly truncated: boolean;
}

interface ExecStatus {
  readonly exited?: boolean;
  readonly exitcode?: number;
  readonly signal?: number;
  readonly 'out-data'?: string;
  readonly 'err-data'?: string;
  readonly 'out-truncated'?: boolean;
  readonly 'err-truncated'?: boolean;
}

// Waits for a command started without a pid file (`guest-exec-status` every `intervalMs`) and
// returns what it printed. Aborting (Ctrl-C) kills it in the guest first.
export async function waitGuestCommand(
  ctx: ActionContext,
  host: string,
  domain: string,
  pid: number,
  intervalMs = 200,
): Promise<GuestCommandResult> {
  const status = JSON.stringify({ execute: 'guest-exec-status', arguments: { pid } });
  try {
    for (;;) {
      const result = await ctx.runner.run(host, agentStep(ctx, 'guest-exec-status', domain, status));
      let reply: ExecStatus | undefined;
      try {
        reply = (JSON.parse(result.stdout) as { return?: ExecStatus }).return;
      } catch {
        failAction(`guest-exec-status on ${host} answered no JSON: ${result.stdout.trim()}`);
      }
      if (reply?.exited === true) {
        return {
          pid,
          exitCode: reply.exitcode ?? null,
          signal: reply.signal ?? null,
          stdout: Buffer.from(reply['out-data'] ?? '', 'base64'),
          stderr: Buffer.from(reply['err-data'] ?? '', 'base64'),
          truncated: reply['out-truncated'] === true || reply['err-truncated'] === true,
        };
      }
      await ctx.sleep(intervalMs, ctx.signal);
    }
  } catch (error) {
    if (ctx.signal?.aborted === true) {
      const kill = guestExecJson({ path: 'kill', args: ['-9', String(pid)] }, undefined, false);
      await ctx.runner
        .run(host, { ...agentStep(ctx, 'guest-exec kill', domain, kill), signal: undefined })
        .catch(() => undefined);
    }
    throw error;
  }
}
