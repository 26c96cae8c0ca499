import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkHostKey,
  entryMatchesName,
  formatKnownHostsLine,
  keyTypeOfBlob,
  knownHostName,
  knownKeyTypes,
  parseKnownHosts,
} from '../../src/host/known-hosts.js';
import type { KnownHostEntry } from '../../src/host/known-hosts.js';
import { generateKey, hashKnownHosts, linesFoundBySshKeygen } from './ssh-keys.js';
import type { TestKey } from './ssh-keys.js';

let dir: string;
let a: TestKey; // ed25519 of the "good" hosts
let b: TestKey; // another ed25519 (a changed key)
let c: TestKey; // ecdsa
let revoked: TestKey;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'onevmm-known-hosts-'));
  a = generateKey(dir, 'a');
  b = generateKey(dir, 'b');
  c = generateKey(dir, 'c', 'ecdsa');
  revoked = generateKey(dir, 'revoked');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// The file the tests read, line by line (line numbers matter for the ssh-keygen comparison).
function sampleFile(): string {
  return [
    '# comment',
    '',
    `tb-h1,10.77.0.11 ${a.publicLine} root@tb-h1`,
    `[tb-h2]:2222 ${a.publicLine}`,
    `*.lab.example,!bad.lab.example ${a.publicLine}`,
    `node?? ${c.publicLine}`,
    `@revoked * ${revoked.publicLine}`,
    `@cert-authority *.lab.example ${b.publicLine}`,
    `   \tTB-H3 ${a.publicLine}`,
    'garbage line',
    `tb-h4 ssh-ed25519 not!base64`,
    `tb-h5 ssh-rsa ${a.publicLine.split(' ')[1]}`,
    `revoked-host ${revoked.publicLine}`,
  ].join('\n');
}

describe('parseKnownHosts', () => {
  it('keeps plain and @revoked entries, skips comments, blanks, @cert-authority and malformed lines', () => {
    const entries = parseKnownHosts(sampleFile());
    expect(entries.map((e) => [e.line, e.revoked, e.keyType])).toEqual([
      [3, false, 'ssh-ed25519'],
      [4, false, 'ssh-ed25519'],
      [5, false, 'ssh-ed25519'],
      [6, false, 'ecdsa-sha2-nistp256'],
      [7, true, 'ssh-ed25519'],
      [9, false, 'ssh-ed25519'],
      [13, false, 'ssh-ed25519'],
    ]);
    expect(entries[0]?.hosts).toEqual({ kind: 'patterns', patterns: ['tb-h1', '10.77.0.11'] });
    expect(entries[0]?.key.equals(a.blob)).toBe(true);
  });

  it('reads hashed host fields made by ssh-keygen -H', () => {
    const file = path.join(dir, 'hashed');
    writeFileSync(file, `tb-h1,10.77.0.11 ${a.publicLine}\n[tb-h2]:2222 ${a.publicLine}\n`);
    hashKnownHosts(file);
    const text = readFileSync(file, 'utf8');
    expect(text).toMatch(/^\|1\|/);
    const entries = parseKnownHosts(text);
    expect(entries).toHaveLength(3);
    expect(entries.every((e) => e.hosts.kind === 'hashed')).toBe(true);
  });
});

describe('knownHostName', () => {
  it('is the host on port 22 and [host]:port elsewhere, lower case', () => {
    expect(knownHostName('TB-H1', 22)).toBe('tb-h1');
    expect(knownHostName('tb-h1', 2222)).toBe('[tb-h1]:2222');
    expect(knownHostName('::1', 2222)).toBe('[::1]:2222');
  });
});

describe('host matching agrees with ssh-keygen -F', () => {
  const names = [
    'tb-h1',
    '10.77.0.11',
    'TB-H1',
    'tb-h2',
    '[tb-h2]:2222',
    '[tb-h1]:2222',
    'a.lab.example',
    'bad.lab.example',
    'lab.example',
    'node01',
    'node1',
    'tb-h3',
    'nowhere',
  ];

  it.each(['plain', 'hashed'])('for a %s file', (kind) => {
    const file = path.join(dir, `oracle-${kind}`);
    // Only lines ssh-keygen and we both consider (no @cert-authority, no malformed lines).
    const lines = sampleFile()
      .split('\n')
      .filter((line) => !line.startsWith('@cert') && line !== 'garbage line' && !line.includes('not!base64'));
    writeFileSync(file, lines.join('\n') + '\n');
    if (kind === 'hashed') hashKnownHosts(file);
    const entries = parseKnownHosts(readFileSync(file, 'utf8'));
    // ssh lowercases the host name before looking it up; ssh-keygen -F takes it as given.
    for (const name of names.map((n) => n.toLowerCase())) {
      const ours = entries.filter((e) => entryMatchesName(e, name)).map((e) => e.line);
      expect(ours, name).toEqual(linesFoundBySshKeygen(file, name));
    }
  });
});

describe('checkHostKey', () => {
  let entries: KnownHostEntry[];
  beforeAll(() => {
    entries = parseKnownHosts(sampleFile());
  });

  it.each([
    ['tb-h1', 22, 'a', 'match'],
    ['10.77.0.11', 22, 'a', 'match'],
    ['Tb-H1', 22, 'a', 'match'],
    ['tb-h1', 22, 'b', 'mismatch'],
    ['tb-h1', 2222, 'a', 'unknown'],
    ['tb-h2', 2222, 'a', 'match'],
    ['tb-h2', 2222, 'b', 'mismatch'],
    ['tb-h2', 22, 'a', 'unknown'],
    ['x.lab.example', 22, 'a', 'match'],
    ['bad.lab.example', 22, 'a', 'unknown'],
    ['node42', 22, 'c', 'match'],
    ['node42', 22, 'a', 'unknown'], // only an ECDSA key is known: another type is new, not changed
    ['tb-h3', 22, 'a', 'match'],
    ['tb-h1', 22, 'c', 'unknown'],
    ['revoked-host', 22, 'revoked', 'revoked'],
    ['anything', 22, 'revoked', 'revoked'],
    ['nowhere', 22, 'a', 'unknown'],
  ] as const)('%s:%i with key %s → %s', (host, port, keyName, expected) => {
    const key = { a, b, c, revoked }[keyName];
    expect(checkHostKey(entries, host, port, key.type, key.blob)).toBe(expected);
  });

  it('works the same on the hashed file', () => {
    const file = path.join(dir, 'hashed-check');
    writeFileSync(file, `tb-h1,10.77.0.11 ${a.publicLine}\n[tb-h2]:2222 ${a.publicLine}\n`);
    hashKnownHosts(file);
    const hashed = parseKnownHosts(readFileSync(file, 'utf8'));
    expect(checkHostKey(hashed, 'tb-h1', 22, a.type, a.blob)).toBe('match');
    expect(checkHostKey(hashed, '10.77.0.11', 22, a.type, a.blob)).toBe('match');
    expect(checkHostKey(hashed, 'TB-H1', 22, a.type, a.blob)).toBe('match');
    expect(checkHostKey(hashed, 'tb-h1', 22, b.type, b.blob)).toBe('mismatch');
    expect(checkHostKey(hashed, 'tb-h2', 2222, a.type, a.blob)).toBe('match');
    expect(checkHostKey(hashed, 'tb-h2', 22, a.type, a.blob)).toBe('unknown');
    expect(checkHostKey(hashed, 'tb-h9', 22, a.type, a.blob)).toBe('unknown');
  });

  it('lists the key types known for a host', () => {
    expect(knownKeyTypes(entries, 'node42', 22)).toEqual(['ecdsa-sha2-nistp256']);
    expect(knownKeyTypes(entries, 'tb-h1', 22)).toEqual(['ssh-ed25519']);
    expect(knownKeyTypes(entries, 'nowhere', 22)).toEqual([]);
  });
});

describe('key blobs and new lines', () => {
  it('reads the type name from the SSH wire format', () => {
    expect(keyTypeOfBlob(a.blob)).toBe('ssh-ed25519');
    expect(keyTypeOfBlob(c.blob)).toBe('ecdsa-sha2-nistp256');
    expect(keyTypeOfBlob(Buffer.from([0, 0, 0]))).toBeUndefined();
    expect(keyTypeOfBlob(Buffer.from([0, 0, 0, 9, 65]))).toBeUndefined();
    expect(keyTypeOfBlob(Buffer.from([0, 0, 0, 1, 10]))).toBeUndefined();
  });

  it('formats a line that ssh-keygen and the parser both find', () => {
    const file = path.join(dir, 'appended');
    const line = formatKnownHostsLine('Tb-H7', 2222, a.blob);
    expect(line).toBe(`[tb-h7]:2222 ${a.publicLine}\n`);
    writeFileSync(file, line);
    expect(linesFoundBySshKeygen(file, '[tb-h7]:2222')).toEqual([1]);
    expect(checkHostKey(parseKnownHosts(line), 'tb-h7', 2222, a.type, a.blob)).toBe('match');
  });
});
