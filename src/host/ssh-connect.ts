// Opens one ssh2 client: host key checked under the policy, keys offered in order, and every failure turned
// into a TransportError that names the host and what went wrong.
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ssh2 from 'ssh2';
import type { Client, ConnectConfig, ServerHostKeyAlgorithm } from 'ssh2';
import { TransportError, describeHost } from './errors.js';
import type { TransportFailure } from './errors.js';
import { decideHostKey } from './host-key-policy.js';
import { knownKeyTypes, parseKnownHosts } from './known-hosts.js';
import type { KnownHostEntry } from './known-hosts.js';
import { planAuthentication } from './ssh-auth.js';
import type { AuthPlan } from './ssh-auth.js';
import type { HostOptions } from './ssh-options.js';

export interface ConnectOptions extends HostOptions {
  readonly keepaliveIntervalMs?: number;
  readonly keepaliveCountMax?: number;
}

// The file access a connection needs (replaceable in tests).
export interface ConnectionIo {
  // Throws (ENOENT…) when the file cannot be read.
  readFile(file: string): Buffer;
  // Appends a line to known_hosts, creating the file with mode 600 (and its directory with 700).
  appendKnownHost(file: string, line: string): void;
}

export const defaultIo: ConnectionIo = {
  readFile: (file) => readFileSync(file),
  appendKnownHost(file, line) {
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    // Start on a line of our own if the file does not end with a newline.
    const last = existsSync(file) ? readFileSync(file).subarray(-1).toString() : '\n';
    appendFileSync(file, last === '\n' || last === '' ? line : `\n${line}`, { mode: 0o600 });
  },
};

// Host key algorithms offered, best first; types known_hosts has for the host are moved to the front.
const HOST_KEY_ALGORITHMS: readonly ServerHostKeyAlgorithm[] = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
];

const NO_IDENTITY =
  'no SSH_AUTH_SOCK agent and no key in ~/.ssh (id_ed25519, id_ecdsa, id_rsa); set SSH_IDENTITY in kvmrc';

type Fail = (failure: TransportFailure, message: string, cause?: unknown) => TransportError;

// Starts connecting; `ready` resolves once authenticated, or rejects with a TransportError. `step` is the
// command that asked for the connection (named in errors).
export function openClient(
  o: ConnectOptions,
  io: ConnectionIo,
  step: string,
): { client: Client; ready: Promise<Client> } {
  const client = new ssh2.Client();
  const where = describeHost(o.host, o.port === 22 ? o.hostName : `${o.hostName}:${o.port}`);
  const fail: Fail = (failure, message, cause) =>
    new TransportError({ host: o.host, target: o.hostName, failure, step, cause }, `${step}: ${message}`);
  const ready = new Promise<Client>((resolve, reject) => {
    let refusal: string | undefined;
    let isReady = false;
    const auth = planAuthentication(o, (file) => io.readFile(file));
    client.once('ready', () => {
      isReady = true;
      resolve(client);
    });
    client.on('error', (error: Error & { level?: string }) => {
      if (!isReady) reject(describeFailure(error, refusal, auth, o, where, fail));
    });
    client.on('close', () => {
      if (!isReady) reject(fail('connect', `connection to ${where} closed during the handshake`));
    });

    const entries = readKnownHosts(o, io, fail);
    if (entries instanceof TransportError) return reject(entries);
    if (auth.methods.length === 0) {
      const why = auth.problems.length > 0 ? auth.problems.join('; ') : NO_IDENTITY;
      return reject(fail('auth', `no usable identity to log in to ${where} as ${o.user}: ${why}`));
    }
    const config: ConnectConfig = {
      host: o.hostName,
      port: o.port,
      username: o.user,
      authHandler: [...auth.methods],
      readyTimeout: o.connectTimeoutMs,
      keepaliveInterval: o.keepaliveIntervalMs ?? 5000,
      keepaliveCountMax: o.keepaliveCountMax ?? 3,
      algorithms: { serverHostKey: preferKnown(knownKeyTypes(entries, o.hostName, o.port)) },
      hostVerifier: (key: Buffer): boolean => {
        const decision = decideHostKey({ ...o, policy: o.hostKeyPolicy, key, entries });
        if (!decision.accept) {
          refusal = decision.message;
          return false;
        }
        if (decision.append === undefined) return true;
        try {
          io.appendKnownHost(o.knownHostsFile, decision.append);
          return true;
        } catch (error) {
          refusal = `cannot add the host key for ${where} to ${o.knownHostsFile}: ${(error as Error).message}`;
          return false;
        }
      },
    };
    try {
      client.connect(config);
      // Every command is a few small SSH packets each way, answered one by one: with Nagle's algorithm
      // each small write waits for the peer's delayed ACK (~40 ms on Linux, up to 200 ms), several
      // times per command. Measured: a CANCEL over a warm connection took 179 ms with Nagle, 38 ms without.
      client.setNoDelay(true);
    } catch (error) {
      reject(fail('connect', `cannot connect to ${where}: ${(error as Error).message}`, error));
    }
  });
  return { client, ready };
}

function describeFailure(
  error: Error & { level?: string },
  refusal: string | undefined,
  auth: AuthPlan,
  o: ConnectOptions,
  where: string,
  fail: Fail,
): TransportError {
  if (refusal !== undefined) return fail('host-key', refusal, error);
  if (error.level === 'client-authentication') {
    const problems = auth.problems.length > 0 ? `; unusable: ${auth.problems.join('; ')}` : '';
    const tried = auth.tried.join(', ');
    return fail('auth', `authentication as ${o.user} on ${where} failed (tried: ${tried})${problems}`, error);
  }
  if (error.level === 'client-timeout') {
    return fail('connect', `timed out connecting to ${where} after ${o.connectTimeoutMs / 1000} s`, error);
  }
  return fail('connect', `cannot connect to ${where}: ${error.message}`, error);
}

// known_hosts entries; a missing file has none (then strict refuses every key).
function readKnownHosts(o: ConnectOptions, io: ConnectionIo, fail: Fail): KnownHostEntry[] | TransportError {
  if (o.hostKeyPolicy === 'off') return [];
  try {
    return parseKnownHosts(io.readFile(o.knownHostsFile).toString('utf8'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    return fail('host-key', `cannot read ${o.knownHostsFile}: ${(error as Error).message}`, error);
  }
}

function preferKnown(knownTypes: readonly string[]): ServerHostKeyAlgorithm[] {
  const first = knownTypes.flatMap((type) =>
    type === 'ssh-rsa'
      ? (['rsa-sha2-512', 'rsa-sha2-256'] as const)
      : HOST_KEY_ALGORITHMS.filter((a) => a === type),
  );
  return [...new Set([...first, ...HOST_KEY_ALGORITHMS])];
}
