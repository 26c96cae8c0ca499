// Test helper: real OpenSSH keys made with ssh-keygen in a temp dir.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

export interface TestKey {
  readonly privateFile: string;
  // "ssh-ed25519 AAAA…" (type and base64, no comment).
  readonly publicLine: string;
  readonly type: string;
  readonly blob: Buffer;
}

// Generates a key pair without passphrase (ed25519, ecdsa or rsa) as `<dir>/<name>`.
export function generateKey(
  dir: string,
  name: string,
  type: 'ed25519' | 'ecdsa' | 'rsa' = 'ed25519',
): TestKey {
  const privateFile = path.join(dir, name);
  const bits = type === 'rsa' ? ['-b', '2048'] : [];
  execFileSync('ssh-keygen', ['-q', '-t', type, ...bits, '-N', '', '-C', `${name}@test`, '-f', privateFile]);
  const [keyType = '', base64 = ''] = readFileSync(`${privateFile}.pub`, 'utf8').trim().split(' ');
  return {
    privateFile,
    publicLine: `${keyType} ${base64}`,
    type: keyType,
    blob: Buffer.from(base64, 'base64'),
  };
}

// Hashes every host name of a known_hosts file in place with `ssh-keygen -H`.
export function hashKnownHosts(file: string): void {
  execFileSync('ssh-keygen', ['-H', '-f', file], { stdio: 'ignore' });
}

// The line numbers `ssh-keygen -F name` reports for a known_hosts file: OpenSSH's own matching.
export function linesFoundBySshKeygen(file: string, name: string): number[] {
  let out = '';
  try {
    out = execFileSync('ssh-keygen', ['-F', name, '-f', file], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
  } catch {
    return []; // exit 1: not found
  }
  return [...out.matchAll(/^# Host .* found: line (\d+)/gm)].map((m) => Number(m[1]));
}
