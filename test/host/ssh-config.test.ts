import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { lookupSshConfig, parseSshConfig } from '../../src/host/ssh-config.js';
import { ParseError } from '../../src/util/errors.js';

const CONTEXT = { user: 'oneadmin', localUser: 'oneadmin' };

function lookup(text: string, host: string, context = CONTEXT): ReturnType<typeof lookupSshConfig> {
  return lookupSshConfig(parseSshConfig(text, '/home/oneadmin/.ssh/config'), host, context);
}

describe('parseSshConfig', () => {
  it('reads keywords in any case, Keyword=value, quotes, escapes and comments', () => {
    const config = parseSshConfig(
      [
        '# comment',
        '',
        'Host tb-*',
        '  HostName=10.0.0.1',
        '\tPORT 2222 # trailing comment',
        '  User = "root"',
        '  IdentityFile "/keys/my key"',
        '  IdentityFile /keys/back\\ slash',
      ].join('\n'),
      'cfg',
    );
    expect(config.lines).toEqual([
      { line: 3, keyword: 'host', args: ['tb-*'] },
      { line: 4, keyword: 'hostname', args: ['10.0.0.1'] },
      { line: 5, keyword: 'port', args: ['2222'] },
      { line: 6, keyword: 'user', args: ['root'] },
      { line: 7, keyword: 'identityfile', args: ['/keys/my key'] },
      { line: 8, keyword: 'identityfile', args: ['/keys/back slash'] },
    ]);
  });

  it('names the file and line of an unterminated quote', () => {
    expect(() => parseSshConfig('Host a\n  User "root', 'cfg')).toThrow(ParseError);
    expect(() => parseSshConfig('Host a\n  User "root', 'cfg')).toThrow('cfg:2: unterminated " quote');
  });
});

describe('lookupSshConfig', () => {
  const text = [
    'Host tb-h1',
    '  HostName 10.77.0.11',
    '  User root',
    '  IdentityFile ~/.ssh/tb',
    'Host tb-* !tb-bad',
    '  Port 2222',
    '  User admin',
    '  HostName %h.lab.example',
    '  IdentityFile ~/.ssh/lab',
    'Host *',
    '  Port 22',
    '  User default',
    '  ServerAliveInterval 5',
  ].join('\n');

  it('takes the first value obtained for each keyword, and every IdentityFile', () => {
    expect(lookup(text, 'tb-h1')).toEqual({
      hostName: '10.77.0.11',
      port: 2222,
      user: 'root',
      identityFiles: ['~/.ssh/tb', '~/.ssh/lab'],
      identityFileSources: ['/home/oneadmin/.ssh/config:4', '/home/oneadmin/.ssh/config:9'],
    });
  });

  it('expands %h in HostName and honours negated Host patterns', () => {
    expect(lookup(text, 'tb-h2')).toMatchObject({ hostName: 'tb-h2.lab.example', port: 2222, user: 'admin' });
    expect(lookup(text, 'tb-bad')).toEqual({
      port: 22,
      user: 'default',
      identityFiles: [],
      identityFileSources: [],
    });
  });

  it('returns nothing set when no block matches', () => {
    expect(lookup('Host other\n  Port 1', 'tb-h1')).toEqual({ identityFiles: [], identityFileSources: [] });
  });

  it('applies options before any Host line to every host', () => {
    expect(lookup('User early\nHost x\n  User late', 'x')).toMatchObject({ user: 'early' });
  });

  it('evaluates Match all, host, originalhost, user, localuser and negations', () => {
    const match = [
      'Host tb-h1',
      '  HostName 10.77.0.11',
      'Match host 10.77.* user oneadmin',
      '  Port 2201',
      'Match originalhost tb-h1 !localuser root',
      '  User viaoriginal',
      'Match all',
      '  IdentityFile /k/all',
    ].join('\n');
    expect(lookup(match, 'tb-h1')).toMatchObject({
      port: 2201,
      user: 'viaoriginal',
      identityFiles: ['/k/all'],
    });
    expect(lookup(match, 'tb-h1', { user: 'root', localUser: 'root' })).toEqual({
      hostName: '10.77.0.11',
      identityFiles: ['/k/all'],
      identityFileSources: ['/home/oneadmin/.ssh/config:8'],
    });
  });

  it('does not apply Match blocks whose criteria it cannot decide (exec, canonical…)', () => {
    const text2 = 'Match exec "test -e /x"\n  Port 1\nMatch canonical\n  Port 2\nMatch final\n  Port 3';
    expect(lookup(text2, 'h')).toMatchObject({ port: 3 });
  });

  it('rejects a bad Port or a missing value with file:line', () => {
    expect(() => lookup('Host *\n  Port http', 'h')).toThrow(
      '/home/oneadmin/.ssh/config:2: Port: expected 1-65535, got "http"',
    );
    expect(() => lookup('Host *\n  Port 70000', 'h')).toThrow(/expected 1-65535/);
    expect(() => lookup('Host *\n  User', 'h')).toThrow(':2: User needs a value');
    expect(() => lookup('Match host', 'h')).toThrow(':1: Match host needs an argument');
  });
});

describe('lookupSshConfig agrees with ssh -G', () => {
  const text = [
    'Host tb-h1',
    '  HostName 10.77.0.11',
    '  User root',
    '  IdentityFile ~/.ssh/tb',
    'Host tb-* !tb-bad',
    '  Port 2222',
    '  User admin',
    '  HostName %h.lab.example',
    '  IdentityFile ~/.ssh/lab_%r_%p',
    'Match host 10.77.* !originalhost tb-h1',
    '  Port 2200',
    'Match originalhost NODE? host node*',
    '  User=nodes',
    '  Port = 2202',
    'Match final all',
    '  IdentityFile /k/final',
    'Host *',
    '  Port 22',
  ].join('\n');

  it.each(['tb-h1', 'tb-h2', 'tb-bad', 'node1', 'node12', 'other'])('for %s', (host) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'onevmm-ssh-config-'));
    try {
      const file = path.join(dir, 'config');
      writeFileSync(file, text);
      const out = execFileSync('ssh', ['-G', '-F', file, host], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      const seen = (key: string): string[] =>
        out
          .split('\n')
          .filter((line) => line.startsWith(`${key} `))
          .map((line) => line.slice(key.length + 1));
      const localUser = userInfo().username;
      const ours = lookupSshConfig(parseSshConfig(text, file), host, { user: localUser, localUser });
      expect(ours.hostName ?? host.toLowerCase()).toBe(seen('hostname')[0]);
      expect(String(ours.port ?? 22)).toBe(seen('port')[0]);
      expect(ours.user ?? localUser).toBe(seen('user')[0]);
      if (ours.identityFiles.length > 0) expect(ours.identityFiles).toEqual(seen('identityfile'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
