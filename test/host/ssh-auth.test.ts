import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planAuthentication } from '../../src/host/ssh-auth.js';
import type { HostOptions } from '../../src/host/ssh-options.js';
import { generateKey } from './ssh-keys.js';
import type { TestKey } from './ssh-keys.js';

let dir: string;
let key: TestKey;
let encrypted: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'onevmm-auth-'));
  key = generateKey(dir, 'plain');
  encrypted = path.join(dir, 'encrypted');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'secret', '-f', encrypted]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const read = (file: string): Buffer => readFileSync(file);

function options(overrides: Partial<HostOptions>): HostOptions {
  return {
    host: 'h',
    hostName: 'h',
    port: 22,
    user: 'oneadmin',
    identities: [],
    knownHostsFile: '/dev/null',
    hostKeyPolicy: 'strict',
    connectTimeoutMs: 1000,
    maxChannels: 1,
    virshShells: 0,
    ...overrides,
  };
}

describe('planAuthentication', () => {
  it('offers explicit identities before the agent', () => {
    const plan = planAuthentication(
      options({
        identities: [{ path: key.privateFile, origin: 'kvmrc SSH_IDENTITY' }],
        agentSocket: '/agent',
      }),
      read,
    );
    expect(plan.tried).toEqual([key.privateFile, 'agent']);
    expect(plan.methods.map((m) => m.type)).toEqual(['publickey', 'agent']);
    expect(plan.methods.every((m) => m.username === 'oneadmin')).toBe(true);
    expect(plan.problems).toEqual([]);
  });

  it('offers the agent before the default keys', () => {
    const plan = planAuthentication(
      options({ identities: [{ path: key.privateFile, origin: 'default' }], agentSocket: '/agent' }),
      read,
    );
    expect(plan.tried).toEqual(['agent', key.privateFile]);
  });

  it('names keys it cannot use: missing, encrypted, public', () => {
    const plan = planAuthentication(
      options({
        identities: [
          { path: path.join(dir, 'missing'), origin: 'cfg:3' },
          { path: encrypted, origin: 'cfg:4' },
          { path: `${key.privateFile}.pub`, origin: 'cfg:5' },
        ],
      }),
      read,
    );
    expect(plan.methods).toEqual([]);
    expect(plan.problems).toEqual([
      `${path.join(dir, 'missing')} (cfg:3): cannot read it (ENOENT)`,
      expect.stringMatching(new RegExp(`^${encrypted} \\(cfg:4\\): .*passphrase`)),
      `${key.privateFile}.pub (cfg:5): not a private key`,
    ]);
  });
});
