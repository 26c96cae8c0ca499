// What a driver script's stderr says, read as OpenNebula reads it (get_info_from_execution): lines
// `ERROR: …`, `WARN: …`, `INFO: …`, `DEBUG: …` (optionally with a VM id) are log lines; the
// other lines are the script's message, which becomes the FAILURE when it fails.
import type { LogSeverity } from '../actions/context.js';

export interface ScriptLog {
  readonly severity: LogSeverity;
  // The VM id the line names, if any.
  readonly vmid?: string;
  readonly text: string;
}

export interface ScriptStderr {
  readonly logs: readonly ScriptLog[];
  // The other non-blank lines, trimmed, in order.
  readonly message: readonly string[];
}

const LOG_LINE = /^(ERROR|INFO|WARN|DEBUG):\s+(\d+)?\s*(.*)$/;
const SEVERITY: Readonly<Record<string, LogSeverity>> = { ERROR: 'E', INFO: 'I', WARN: 'W', DEBUG: 'D' };

export function readScriptStderr(stderr: string): ScriptStderr {
  const logs: ScriptLog[] = [];
  const message: string[] = [];
  for (const raw of stderr.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '') continue;
    const match = LOG_LINE.exec(line);
    if (match === null) {
      message.push(line);
      continue;
    }
    const text = (match[3] ?? '').trim();
    logs.push({
      severity: SEVERITY[match[1] ?? ''] ?? 'I',
      ...(match[2] === undefined ? {} : { vmid: match[2] }),
      text,
    });
  }
  return { logs, message };
}

// The message of a failed script: its plain stderr lines, else its ERROR lines, else nothing;
// a long one shortened to what says what went wrong.
export function failureMessage(stderr: ScriptStderr): string {
  if (stderr.message.length > 0) return telling(stderr.message).join('\n');
  return telling(stderr.logs.filter((log) => log.severity === 'E').map((log) => log.text)).join('\n');
}

const MOST_LINES = 3;
const SAYS_WHAT_FAILED =
  /\berror|\bfail|denied|no space|not found|no such|cannot|can't|unable|refused|timed out|invalid|not permitted/i;

// Scripts that print their whole command or a `set -x` trace when they fail (OpenNebula's rsync
// backup does) would make a FAILURE of a screenful: the last lines that say what failed are kept
// (a trace glued to one, `Error copying backup: ++ du …`, cut off), and when fewer than three do,
// the trace's last command (the one that failed under `set -e`); else the last lines. The whole
// text is in the VM log already, one LOG line each.
function telling(lines: readonly string[]): readonly string[] {
  if (lines.length <= MOST_LINES) return lines;
  const saying = lines
    .filter(
      (line) => SAYS_WHAT_FAILED.test(line) && !line.startsWith('+') && !/^command failed:?$/i.test(line),
    )
    .map((line) => line.replace(/:\s+\++ .*$/, ''))
    .slice(-MOST_LINES);
  if (saying.length === 0) return lines.slice(-MOST_LINES);
  const traced = lines.findLast((line) => /^\+ /.test(line));
  return saying.length < MOST_LINES && traced !== undefined
    ? [...saying, `last command: ${traced.slice(2)}`]
    : saying;
}
