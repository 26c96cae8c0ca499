// Killing a remote command that is still running (local timeout, abort).
//
// The SSH "signal" request is not enough: OpenSSH refuses it for sessions without privilege separation, which
// includes every root login ("session signalling requires privilege separation"), and closing the channel
// does not stop a command that neither reads nor writes. So each command first reports its shell's PID on
// stderr (one marker line, removed before anyone sees stderr); sshd made that shell a session leader, so a
// second channel can kill the whole session (`pkill -s`), or at least its process group where pkill is missing.
import type { Client } from 'ssh2';

const MARK = 'onevmm-session-pid:';
const MARK_LINE = /^onevmm-session-pid:([0-9]+)$/;
// Stop looking for the marker after this much stderr (it comes first, after any shell startup noise).
const SEARCH_LIMIT = 64 * 1024;

// The command line actually sent: report $$ on stderr, then run the command.
export function withPidReport(command: string): string {
  return `printf '${MARK}%s\\n' "$$" >&2; ${command}`;
}

// Takes the marker line out of stderr and remembers the PID it carried.
export class PidReportFilter {
  pid: number | undefined;
  private pending = Buffer.alloc(0);
  private searching = true;

  // Returns the stderr bytes to keep (the marker line removed).
  push(chunk: Buffer): Buffer {
    if (!this.searching) return chunk;
    this.pending = Buffer.concat([this.pending, chunk]);
    const kept: Buffer[] = [];
    for (let newline = this.pending.indexOf(10); newline >= 0; newline = this.pending.indexOf(10)) {
      const line = this.pending.subarray(0, newline + 1);
      this.pending = this.pending.subarray(newline + 1);
      const match = MARK_LINE.exec(line.toString('latin1').trimEnd());
      if (match) {
        this.pid = Number(match[1]);
        this.searching = false;
        kept.push(this.pending);
        this.pending = Buffer.alloc(0);
        return Buffer.concat(kept);
      }
      kept.push(line);
    }
    if (this.pending.length > SEARCH_LIMIT) this.searching = false;
    if (!this.searching) kept.push(this.pending);
    return Buffer.concat(kept);
  }

  // What is left when stderr ends (a last line without newline).
  flush(): Buffer {
    const rest = this.pending;
    this.pending = Buffer.alloc(0);
    return rest;
  }
}

// Kills every process of the remote session led by `pid`, on a channel of its own; errors are ignored
// (the command may have ended meanwhile, or the connection be gone). Resolves once the kill ran (its
// channel closed), so that a connection is not closed before its kills reached the host.
export function killRemoteSession(client: Client, pid: number): Promise<void> {
  const n = String(pid);
  const command = `pkill -KILL -s ${n} 2>/dev/null || kill -KILL -- -${n} 2>/dev/null; true`;
  return new Promise<void>((resolve) => {
    try {
      client.exec(command, (error, channel) => {
        if (error) return resolve();
        channel.on('data', () => undefined);
        channel.stderr.on('data', () => undefined);
        channel.on('close', () => resolve());
        channel.on('error', () => resolve());
        channel.end();
      });
    } catch {
      // Not connected any more: the session dies with the connection or by its own `timeout`.
      resolve();
    }
  });
}
