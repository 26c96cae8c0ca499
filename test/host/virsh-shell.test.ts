import { describe, expect, it } from 'vitest';
import {
  mayRerun,
  outcomeOf,
  ShellFrames,
  shellCommandOf,
  shellCommandText,
  shellStartCommand,
} from '../../src/host/virsh-shell.js';

const URI = 'qemu:///system';
const virsh = (...args: string[]) => ({ step: 'x', argv: ['virsh', '--connect', URI, ...args] });

describe('shellCommandOf', () => {
  it('takes short virsh commands whose words need no quoting', () => {
    expect(shellCommandOf(virsh('destroy', '--', 'one-7'))).toEqual({ uri: URI, line: 'destroy -- one-7' });
    expect(shellCommandOf(virsh('domstats', '--state', '--nowait'))?.line).toBe('domstats --state --nowait');
  });

  it.each([
    ['a command that needs its own process', virsh('migrate', '--live', 'one-7', 'qemu+ssh://h/system')],
    ['a word with a blank', virsh('domstate', '--', 'one 7')],
    ['a word with a quote', virsh('domstate', '--', "one'7")],
    ['a word with ;', virsh('domstate', '--', 'one-7;destroy')],
    ['a word with #', virsh('domstate', '--', '#one')],
    ['a word with a newline', virsh('domstate', '--', 'one\n7')],
    ['an empty word', virsh('domstate', '--', '')],
    ['stdin', { ...virsh('domstate', '--', 'one-7'), stdin: 'x' }],
    ['an environment', { ...virsh('domstate', '--', 'one-7'), env: { A: 'b' } }],
    ['not virsh --connect', { step: 'x', argv: ['virsh', 'domstate', 'one-7'] }],
    ['another program', { step: 'x', argv: ['ls', '--connect', URI, 'domstate'] }],
    ["libvirt's test driver", { step: 'x', argv: ['virsh', '--connect', 'test:///default', 'list'] }],
    ['a URI with ?', { step: 'x', argv: ['virsh', '--connect', 'qemu:///system?socket=/s', 'list'] }],
  ])('leaves %s to a process', (_, step) => {
    expect(shellCommandOf(step)).toBeUndefined();
  });

  it('names the shell line and the command that starts a shell', () => {
    expect(shellCommandText({ uri: URI, line: 'list' })).toBe('virsh --connect qemu:///system shell> list');
    expect(shellStartCommand("qemu+ssh://h/system?x='1'")).toBe(
      "LC_ALL=C TERM=dumb COLUMNS=100000 INPUTRC=/dev/null exec timeout --kill-after=5s 900s virsh --connect 'qemu+ssh://h/system?x='\\''1'\\'''",
    );
  });
});

// What virsh 9.0 (Debian 12) writes, recorded on the testbed: readline echoes each input line after the
// prompt; every command's output is followed by one newline.
const BANNER =
  "Welcome to virsh, the virtualization interactive terminal.\n\nType:  'help' for help with commands\n" +
  "       'quit' to quit\n\n";
function session(prompt: string): { stdout: string; stderr: string } {
  const P = prompt;
  const stdout =
    `${BANNER}${P}echo --err @onevmm-t0-0@\n\n${P}echo @onevmm-t0-0@\n@onevmm-t0-0@\n` +
    `${P}domstate -- one-x\n\n${P}echo --err @onevmm-t0-1@\n\n${P}echo @onevmm-t0-1@\n@onevmm-t0-1@\n` +
    `${P}domstate -- one-7\nrunning\n\n${P}echo --err @onevmm-t0-2@\n\n${P}echo @onevmm-t0-2@\n@onevmm-t0-2@\n` +
    `${P}list --name\n@onevmm-t0-3@\necho @onevmm-t0-3@\n\n${P}echo --err @onevmm-t0-3@\n\n${P}echo @onevmm-t0-3@\n@onevmm-t0-3@\n`;
  const stderr =
    'error: @onevmm-t0-0@\n' +
    "error: failed to get domain 'one-x'\n" +
    'error: @onevmm-t0-1@\n' +
    'error: @onevmm-t0-2@\n' +
    'error: @onevmm-t0-3@\n';
  return { stdout, stderr };
}

function replay(prompt: string, cut: (text: string) => string[]): string[] {
  const { stdout, stderr } = session(prompt);
  const frames = new ShellFrames('t0');
  const lines = ['domstate -- one-x', 'domstate -- one-7', 'list --name'];
  const seen: string[] = [];
  const errors = { text: '' };
  const outParts = cut(stdout);
  const errParts = cut(stderr);
  let n = 0;
  for (let i = 0; i < Math.max(outParts.length, errParts.length); i++) {
    frames.pushStdout(outParts[i] ?? '');
    frames.pushStderr(errParts[i] ?? '');
    for (;;) {
      if (n === 0) {
        if (!frames.takeStart(errors)) break;
        n = 1;
        continue;
      }
      const took = frames.take(n, lines[n - 1]);
      if (took === undefined) break;
      seen.push(JSON.stringify(took));
      n++;
    }
  }
  expect(errors.text).toBe('');
  return seen;
}

describe('ShellFrames', () => {
  const expected = [
    JSON.stringify({ stdout: '\n', stderr: "error: failed to get domain 'one-x'\n" }),
    JSON.stringify({ stdout: 'running\n\n', stderr: '' }),
    // output that looks like a marker is still the command's
    JSON.stringify({ stdout: '@onevmm-t0-3@\necho @onevmm-t0-3@\n\n', stderr: '' }),
  ];

  it.each(['virsh # ', 'virsh > '])('splits the output of each command (prompt %j)', (prompt) => {
    expect(replay(prompt, (text) => [text])).toEqual(expected);
  });

  it('gives the same result whatever the chunks', () => {
    for (const size of [1, 2, 3, 7, 13, 64]) {
      const chunks = (text: string): string[] => text.match(new RegExp(`[^]{1,${size}}`, 'g')) ?? [];
      expect(replay('virsh # ', chunks)).toEqual(expected);
    }
  });

  it('writes markers with a token of its own', () => {
    expect(new ShellFrames('t0').markers(4)).toBe('echo --err @onevmm-t0-4@\necho @onevmm-t0-4@\n');
    expect(new ShellFrames().markers(1)).toMatch(/^echo --err @onevmm-[0-9a-f]{12}-1@\n/);
  });

  it('takes the output after the echoed line even when readline scrolled it (a line wider than the screen)', () => {
    const frames = new ShellFrames('t0');
    const errors = { text: '' };
    frames.pushStdout(
      `${BANNER}virsh # echo --err @onevmm-t0-0@\n\nvirsh # echo @onevmm-t0-0@\n@onevmm-t0-0@\n`,
    );
    frames.pushStderr('error: @onevmm-t0-0@\n');
    expect(frames.takeStart(errors)).toBe(true);
    // recorded: virsh 9.0 with TERM=dumb and 80 columns, `snapshot-list --name --topological -- <uuid>`
    frames.pushStdout(
      'virsh # \r<topological -- 5d2b56ac-0a7f-4e7f-a409-4dde39c653bb\nsnap-0\n\n' +
        'virsh # echo --err @onevmm-t0-1@\n\nvirsh # echo @onevmm-t0-1@\n@onevmm-t0-1@\n',
    );
    frames.pushStderr('error: @onevmm-t0-1@\n');
    const long = 'snapshot-list --name --topological -- 5d2b56ac-0a7f-4e7f-a409-4dde39c653bb';
    expect(frames.take(1, long)).toEqual({ stdout: 'snap-0\n\n', stderr: '' });
  });

  it('keeps what virsh says before its first prompt', () => {
    const frames = new ShellFrames('t0');
    frames.pushStdout(
      `${BANNER}virsh # echo --err @onevmm-t0-0@\n\nvirsh # echo @onevmm-t0-0@\n@onevmm-t0-0@\n`,
    );
    const errors = { text: '' };
    expect(frames.takeStart(errors)).toBe(false);
    frames.pushStderr('error: failed to connect to the hypervisor\nerror: @onevmm-t0-0@\n');
    expect(frames.takeStart(errors)).toBe(true);
    expect(errors.text).toBe('error: failed to connect to the hypervisor\n');
    expect(frames.ready).toBe(true);
  });
});

describe('outcomeOf', () => {
  it('fails a command exactly when virsh printed an error line for it', () => {
    expect(outcomeOf({ stdout: 'running\n\n', stderr: '' })).toEqual({
      stdout: 'running\n\n',
      stderr: '',
      exitCode: 0,
    });
    expect(outcomeOf({ stdout: '', stderr: 'warning: x\n' }).exitCode).toBe(0);
    expect(outcomeOf({ stdout: '\n', stderr: "error: failed to get domain 'one-x'\n" }).exitCode).toBe(1);
  });

  it("ignores virsh's notices about its own reconnection (libvirtd restarted between commands)", () => {
    const stderr =
      'error: Disconnected from qemu:///system due to end of file\nerror: Reconnected to the hypervisor\n';
    expect(outcomeOf({ stdout: '\n', stderr })).toEqual({ stdout: '\n', stderr: '', exitCode: 0 });
    expect(outcomeOf({ stdout: '', stderr: `${stderr}error: failed to get domain 'one-x'\n` })).toEqual({
      stdout: '',
      stderr: "error: failed to get domain 'one-x'\n",
      exitCode: 1,
    });
  });
});

describe('mayRerun', () => {
  it.each(['destroy -- one-7', 'domstate -- one-7', 'shutdown -- one-7', 'domstats --state'])(
    '%s may run again',
    (line) => {
      expect(mayRerun({ uri: URI, line })).toBe(true);
    },
  );
  it.each(['reboot -- one-7', 'reset -- one-7', 'suspend -- one-7', 'undefine -- one-7'])(
    '%s may not',
    (line) => {
      expect(mayRerun({ uri: URI, line })).toBe(false);
    },
  );
});
