import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { quote, quoteCommand } from '../../src/host/quote.js';
import { OnevmmError } from '../../src/util/errors.js';

const work = mkdtempSync(path.join(tmpdir(), 'onevmm-quote-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

// Runs `printf '%s\0' <line>` in a shell and returns the words it printed.
function wordsSeenBy(shell: string, line: string): string[] {
  const out = spawnSync(shell, ['-c', `printf '%s\\0' ${line}`], {
    cwd: work,
    encoding: 'utf8',
    env: {},
    // Not a socket on stdin: bash would take that for sshd and read ~/.bashrc.
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  expect(out.stderr).toBe('');
  expect(out.status).toBe(0);
  return out.stdout.split('\0').slice(0, -1);
}

function hasShell(shell: string): boolean {
  return spawnSync(shell, ['-c', 'true']).status === 0;
}

describe('quote', () => {
  it.each([
    ['abc', 'abc'],
    ['qemu:///system', 'qemu:///system'],
    ['/var/lib/one//datastores/0/7/disk.0', '/var/lib/one//datastores/0/7/disk.0'],
    ['--kill-after=5s', '--kill-after=5s'],
    ['user@host:22,x+y%z', 'user@host:22,x+y%z'],
    ['', "''"],
    ['a b', "'a b'"],
    ["it's", "'it'\\''s'"],
    ["'", "''\\'''"],
    ['$(id)', "'$(id)'"],
    ['`id`', "'`id`'"],
    ['~root', "'~root'"],
    ['*', "'*'"],
    ['!', "'!'"],
    ['a\nb', "'a\nb'"],
    ['=x', "'=x'"],
    ['x=1', 'x=1'],
    ['été', "'été'"],
  ])('quote(%j) is %s', (word, expected) => {
    expect(quote(word)).toBe(expected);
  });

  it('rejects NUL, which no shell word can carry', () => {
    expect(() => quote('a\0b')).toThrow(OnevmmError);
    expect(() => quote('a\0b')).toThrow(/NUL byte/);
  });

  it('rejects a lone surrogate, which has no UTF-8 form', () => {
    expect(() => quote('a\uD800b')).toThrow(/not valid Unicode/);
    expect(quote('a\u{1F600}b')).toBe("'a\u{1F600}b'");
  });
});

describe('quoteCommand', () => {
  it('joins quoted words with spaces', () => {
    expect(quoteCommand(['virsh', '--connect', 'qemu:///system', 'dominfo', 'one 7'])).toBe(
      "virsh --connect qemu:///system dominfo 'one 7'",
    );
    expect(quoteCommand([])).toBe('');
  });

  it('quotes a first word with = so that it runs as a command, not an assignment', () => {
    expect(quoteCommand(['A=1', 'B=2'])).toBe("'A=1' B=2");
    const out = spawnSync('bash', ['-c', quoteCommand(['A=1', 'x'])], { encoding: 'utf8' });
    expect(out.stderr).toContain('A=1: command not found');
  });
});

// Words that exercise every special character class a shell has.
const specialWord = fc.constantFrom(
  '',
  "'",
  "''",
  '"',
  '\\',
  '$(touch PWNED)',
  '`touch PWNED`',
  '${HOME}',
  '$HOME',
  '$((1+1))',
  '\n',
  'a\nb',
  '!',
  '!!',
  '*',
  '?',
  '[a]',
  '~',
  '~/x',
  '-n',
  '-e',
  '--',
  '=',
  'A=b',
  '#',
  ';',
  '&',
  '|',
  '>x',
  '<x',
  '(',
  ')',
  '{a,b}',
  '\t',
  ' ',
  '\r',
  '%s',
);
const anyWord = fc.oneof(
  specialWord,
  fc.string({ unit: 'binary', maxLength: 20 }).filter((w) => !w.includes('\0')),
  fc.string({ unit: fc.constantFrom(...'\'"\\$`!*?~-= \n;&|<>(){}[]#%a'), maxLength: 12 }),
);

describe('quoteCommand against real shells', () => {
  it('bash reproduces any words exactly (300 runs)', () => {
    fc.assert(
      fc.property(fc.array(anyWord, { minLength: 1, maxLength: 8 }), (words) => {
        expect(wordsSeenBy('bash', quoteCommand(words))).toEqual(words);
      }),
      { numRuns: 300 },
    );
  });

  it.runIf(hasShell('dash'))('dash (a POSIX sh) reproduces them too (100 runs)', () => {
    fc.assert(
      fc.property(fc.array(anyWord, { minLength: 1, maxLength: 8 }), (words) => {
        expect(wordsSeenBy('dash', quoteCommand(words))).toEqual(words);
      }),
      { numRuns: 100 },
    );
  });

  it('never runs a command substitution hidden in a word (canary)', () => {
    const canaries = ['$(touch CANARY1)', '`touch CANARY2`', "'; touch CANARY3; '", '"$(touch CANARY4)"'];
    expect(wordsSeenBy('bash', quoteCommand(canaries))).toEqual(canaries);
    for (const name of ['CANARY1', 'CANARY2', 'CANARY3', 'CANARY4']) {
      expect(existsSync(path.join(work, name))).toBe(false);
    }
    // The control: pasted unquoted, the same word does create its file, so the check above can fail.
    wordsSeenBy('bash', '$(touch CANARY0)');
    expect(existsSync(path.join(work, 'CANARY0'))).toBe(true);
  });
});
