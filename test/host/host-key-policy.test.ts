import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decideHostKey } from '../../src/host/host-key-policy.js';
import { parseKnownHosts } from '../../src/host/known-hosts.js';
import type { HostKeyPolicy } from '../../src/host/ssh-options.js';
import { generateKey } from './ssh-keys.js';
import type { TestKey } from './ssh-keys.js';

let dir: string;
let known: TestKey;
let other: TestKey;
const FILE = '/var/lib/one/.ssh/known_hosts';

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'onevmm-policy-'));
  known = generateKey(dir, 'known');
  other = generateKey(dir, 'other');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function decide(policy: HostKeyPolicy, key: Buffer, port = 22, hostName = '10.77.0.11') {
  const entries = parseKnownHosts(
    `10.77.0.11,[10.77.0.11]:2222 ${known.publicLine}\n@revoked 10.77.0.66 ${other.publicLine}\n`,
  );
  return decideHostKey({ policy, host: 'tb-h1', hostName, port, key, entries, knownHostsFile: FILE });
}

describe('decideHostKey', () => {
  it('accepts a known key under strict and accept-new', () => {
    expect(decide('strict', known.blob)).toEqual({ accept: true, status: 'match' });
    expect(decide('accept-new', known.blob, 2222)).toEqual({ accept: true, status: 'match' });
  });

  it('refuses an unknown key under strict, naming host, file and the fix', () => {
    const decision = decide('strict', known.blob, 22, '10.77.0.12');
    expect(decision.accept).toBe(false);
    if (decision.accept) return;
    expect(decision.message).toMatch(
      /^host key for tb-h1 \(10\.77\.0\.12\) is not in \/var\/lib\/one\/\.ssh\/known_hosts; add it \(ssh-keyscan 10\.77\.0\.12 >> \/var\/lib\/one\/\.ssh\/known_hosts\) or set SSH_HOST_KEY_POLICY=accept-new \(offered: ssh-ed25519 SHA256:[A-Za-z0-9+/]{43}\)$/,
    );
    const onPort = decide('strict', known.blob, 2200);
    expect(!onPort.accept && onPort.message).toContain('tb-h1 (10.77.0.11:2200)');
    expect(!onPort.accept && onPort.message).toContain('ssh-keyscan -p 2200 10.77.0.11');
  });

  it('accepts an unknown key under accept-new with the line to append', () => {
    expect(decide('accept-new', other.blob, 2200)).toEqual({
      accept: true,
      status: 'unknown',
      append: `[10.77.0.11]:2200 ${other.publicLine}\n`,
    });
  });

  it('refuses a changed key under strict and accept-new', () => {
    for (const policy of ['strict', 'accept-new'] as const) {
      const decision = decide(policy, other.blob);
      expect(decision).toMatchObject({ accept: false, status: 'mismatch' });
      expect(!decision.accept && decision.message).toContain(
        'does not match the key in /var/lib/one/.ssh/known_hosts',
      );
      expect(!decision.accept && decision.message).toContain(
        "ssh-keygen -R '10.77.0.11' -f /var/lib/one/.ssh/known_hosts",
      );
    }
  });

  it('refuses a revoked key under every policy but off', () => {
    expect(decide('accept-new', other.blob, 22, '10.77.0.66')).toMatchObject({
      accept: false,
      status: 'revoked',
    });
    expect(decide('off', other.blob, 22, '10.77.0.66')).toEqual({ accept: true, status: 'unchecked' });
  });

  it('accepts anything under off, and refuses an unreadable blob otherwise', () => {
    expect(decide('off', Buffer.from('junk'))).toEqual({ accept: true, status: 'unchecked' });
    expect(decide('strict', Buffer.from('junk'))).toMatchObject({ accept: false, status: 'unreadable' });
  });
});
