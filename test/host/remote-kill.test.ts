import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { PidReportFilter, withPidReport } from '../../src/host/remote-kill.js';

function filter(chunks: string[]): { kept: string; pid: number | undefined } {
  const f = new PidReportFilter();
  const kept = chunks.map((chunk) => f.push(Buffer.from(chunk)).toString()).join('') + f.flush().toString();
  return { kept, pid: f.pid };
}

describe('PidReportFilter', () => {
  it('removes the marker line and keeps everything else', () => {
    expect(filter(['onevmm-session-pid:1234\nerror: x\n'])).toEqual({ kept: 'error: x\n', pid: 1234 });
    expect(filter(['noise\nonevmm-session-pid:7\n', 'more'])).toEqual({ kept: 'noise\nmore', pid: 7 });
  });

  it('finds a marker split across chunks', () => {
    expect(filter(['onevmm-sess', 'ion-pid:4', '2\nrest\n'])).toEqual({ kept: 'rest\n', pid: 42 });
  });

  it('removes only the first marker and leaves output without one alone', () => {
    expect(filter(['onevmm-session-pid:1\nonevmm-session-pid:2\n'])).toEqual({
      kept: 'onevmm-session-pid:2\n',
      pid: 1,
    });
    expect(filter(['no marker\n', 'tail'])).toEqual({ kept: 'no marker\ntail', pid: undefined });
    expect(filter(['xonevmm-session-pid:1\n'])).toEqual({ kept: 'xonevmm-session-pid:1\n', pid: undefined });
  });
});

describe('withPidReport', () => {
  it("reports the shell's PID on stderr, then runs the command unchanged", () => {
    const out = spawnSync('sh', ['-c', withPidReport("echo out; echo 'err' >&2; exit 3")], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const f = new PidReportFilter();
    const stderr = f.push(out.stderr).toString() + f.flush().toString();
    expect([out.status, out.stdout.toString(), stderr]).toEqual([3, 'out\n', 'err\n']);
    expect(f.pid).toBe(out.pid);
  });
});
