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

// The message of a failed script: its plain stderr lines, else its ERROR lines, else nothing.
export function failureMessage(stderr: ScriptStderr): string {
  if (stderr.message.length > 0) return stderr.message.join('\n');
  return stderr.logs
    .filter((log) => log.severity === 'E')
    .map((log) => log.text)
    .join('\n');
}
