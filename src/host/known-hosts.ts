// OpenSSH known_hosts: parse the file and check a host's key as ssh does (see sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT").
// Plain and hashed (|1|salt|hash) host fields, [host]:port, wildcards * and ?, negation !, and @revoked.
// @cert-authority lines are ignored: host certificates are not used here.
import { createHmac } from 'node:crypto';
import { matchHostPatterns } from './host-patterns.js';

export type HostField =
  | { readonly kind: 'patterns'; readonly patterns: readonly string[] }
  | { readonly kind: 'hashed'; readonly salt: Buffer; readonly hash: Buffer };

export interface KnownHostEntry {
  // 1-based line number in the file.
  readonly line: number;
  readonly revoked: boolean;
  readonly hosts: HostField;
  readonly keyType: string;
  // The public key blob (SSH wire format), as base64-decoded from the line.
  readonly key: Buffer;
}

export type HostKeyStatus = 'match' | 'mismatch' | 'unknown' | 'revoked';

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

// Returns the usable entries of a known_hosts text; malformed lines are skipped, as ssh skips them.
export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  text.split('\n').forEach((raw, i) => {
    const entry = parseLine(raw, i + 1);
    if (entry) entries.push(entry);
  });
  return entries;
}

function parseLine(raw: string, line: number): KnownHostEntry | undefined {
  const fields = raw.trim().split(/[ \t]+/);
  if (fields[0] === '' || fields[0]?.startsWith('#')) return undefined;
  let revoked = false;
  if (fields[0]?.startsWith('@')) {
    if (fields[0] !== '@revoked') return undefined; // @cert-authority, or a marker ssh does not know
    revoked = true;
    fields.shift();
  }
  const [hostText, keyType, keyText] = fields;
  if (hostText === undefined || keyType === undefined || keyText === undefined) return undefined;
  if (!BASE64.test(keyText)) return undefined;
  const key = Buffer.from(keyText, 'base64');
  if (keyTypeOfBlob(key) !== keyType) return undefined;
  const hosts = parseHostField(hostText);
  return hosts && { line, revoked, hosts, keyType, key };
}

function parseHostField(text: string): HostField | undefined {
  if (!text.startsWith('|')) return { kind: 'patterns', patterns: text.split(',').filter((p) => p !== '') };
  const [, magic, salt, hash, ...rest] = text.split('|');
  if (magic !== '1' || salt === undefined || hash === undefined || rest.length > 0) return undefined;
  if (!BASE64.test(salt) || !BASE64.test(hash)) return undefined;
  return { kind: 'hashed', salt: Buffer.from(salt, 'base64'), hash: Buffer.from(hash, 'base64') };
}

// The name ssh looks up: `host` on port 22, `[host]:port` otherwise; lower case.
export function knownHostName(host: string, port: number): string {
  const name = host.toLowerCase();
  return port === 22 ? name : `[${name}]:${port}`;
}

// True when the entry's host field covers `name` (a knownHostName).
export function entryMatchesName(entry: KnownHostEntry, name: string): boolean {
  if (entry.hosts.kind === 'hashed') {
    const digest = createHmac('sha1', entry.hosts.salt).update(name).digest();
    return digest.equals(entry.hosts.hash);
  }
  return matchHostPatterns(name, entry.hosts.patterns);
}

// Checks the key a host presented, as ssh does: a revoked key is refused; a known key matches; another key
// of the same kind for that host is a mismatch (the key changed); anything else is unknown.
export function checkHostKey(
  entries: readonly KnownHostEntry[],
  host: string,
  port: number,
  keyType: string,
  keyBlob: Buffer,
): HostKeyStatus {
  const name = knownHostName(host, port);
  const forHost = entries.filter((entry) => entryMatchesName(entry, name));
  const same = (entry: KnownHostEntry): boolean => entry.keyType === keyType && entry.key.equals(keyBlob);
  if (forHost.some((entry) => entry.revoked && same(entry))) return 'revoked';
  const trusted = forHost.filter((entry) => !entry.revoked);
  if (trusted.some(same)) return 'match';
  if (trusted.some((entry) => keyFamily(entry.keyType) === keyFamily(keyType))) return 'mismatch';
  return 'unknown';
}

// The key types known_hosts trusts for a host, in file order (to prefer them when negotiating).
export function knownKeyTypes(entries: readonly KnownHostEntry[], host: string, port: number): string[] {
  const name = knownHostName(host, port);
  const types = entries.filter((e) => !e.revoked && entryMatchesName(e, name)).map((e) => e.keyType);
  return [...new Set(types)];
}

// Reads the key type name at the start of a public key blob (a uint32 length, then the name).
export function keyTypeOfBlob(blob: Buffer): string | undefined {
  if (blob.length < 4) return undefined;
  const length = blob.readUInt32BE(0);
  if (length === 0 || length > 64 || 4 + length > blob.length) return undefined;
  const name = blob.subarray(4, 4 + length).toString('latin1');
  return /^[\x21-\x7e]+$/.test(name) ? name : undefined;
}

// The line to append to known_hosts for a newly accepted key.
export function formatKnownHostsLine(host: string, port: number, keyBlob: Buffer): string {
  const type = keyTypeOfBlob(keyBlob) ?? 'unknown';
  return `${knownHostName(host, port)} ${type} ${keyBlob.toString('base64')}\n`;
}

// ssh treats ECDSA keys of any curve as one kind when deciding that a host key changed.
function keyFamily(keyType: string): string {
  return keyType.startsWith('ecdsa-sha2-') ? 'ecdsa' : keyType;
}
