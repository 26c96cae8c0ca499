// Opens one ssh2 client: host key checked under the policy, keys offered in order, and every failure turned
// into a TransportError that names the host and what went wrong.
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { Socket } from 'node:net';
import path from 'node:path';
import type { Client, ConnectConfig, ServerHostKeyAlgorithm } from 'ssh2';
import { TransportError, describeHost } from './errors.js';
import type { TransportFailure } from './errors.js';
import { decideHostKey } from './host-key-policy.js';
import { knownKeyTypes, parseKnownHosts } from './known-hosts.js';
import type { KnownHostEntry } from './known-hosts.js';
import { planAuthentication } from './ssh-auth.js';
import type { AuthPlan } from './ssh-auth.js';
import type { HostOptions } from './ssh-options.js';
import { loadSsh2 } from './ssh2-load.js';

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

export interface OpeningClient {
  // Resolves once authenticated, or rejects with a TransportError.
  readonly ready: Promise<Client>;
  // The ssh2 client, once it has the socket.
  client(): Client | undefined;
  // Ends the connection however far it got.
  destroy(): void;
}

// Starts connecting; `step` is the command that asked for the connection (named in errors). The TCP
// connection is started before ssh2 is loaded (the first time): sshd forks and re-executes itself for
// each connection, ~15 ms before its banner here, while this process compiles ssh2.
export function openClient(o: ConnectOptions, io: ConnectionIo, step: string): OpeningClient {
  const where = describeHost(o.host, o.port === 22 ? o.hostName : `${o.hostName}:${o.port}`);
  const fail: Fail = (failure, message, cause) =>
    new TransportError({ host: o.host, target: o.hostName, failure, step, cause }, `${step}: ${message}`);
  const entries = readKnownHosts(o, io, fail);
  if (entries instanceof TransportError) return failed(entries);
  const socket = new Socket();
  // Errors before ssh2 has the socket (ssh2 reports the later ones).
  let early: Error | undefined;
  socket.once('error', (error) => (early ??= error));
  socket.connect({ host: o.hostName, port: o.port });
  let client: Client | undefined;
  const ready = (async (): Promise<Client> => {
    // net.Socket sends its SYN on the next tick: let it go before ssh2's compile holds this thread.
    await new Promise<void>((resolve) => process.nextTick(resolve));
    const ssh2 = loadSsh2();
    const auth = planAuthentication(o, (file) => io.readFile(file));
    if (auth.methods.length === 0) {
      const why = auth.problems.length > 0 ? auth.problems.join('; ') : NO_IDENTITY;
      throw fail('auth', `no usable identity to log in to ${where} as ${o.user}: ${why}`);
    }
    // Refused, unreachable, or closed by close() while ssh2 loaded.
    if (socket.destroyed) {
      const cause = early ?? socket.errored ?? undefined;
      throw fail(
        'connect',
        `cannot connect to ${where}: ${cause?.message ?? 'the connection was closed'}`,
        cause,
      );
    }
    const opened = new ssh2.Client();
    client = opened;
    return await handshake(opened, socket, o, io, entries, auth, where, fail);
  })();
  ready.catch(() => {
    if (client === undefined) socket.destroy();
  });
  return {
    ready,
    client: () => client,
    destroy: () => (client ? client.destroy() : socket.destroy()),
  };
}

function failed(error: TransportError): OpeningClient {
  return { ready: Promise.reject(error), client: () => undefined, destroy: () => undefined };
}

// ssh2's handshake on the connecting socket: resolves once authenticated.
function handshake(
  client: Client,
  socket: Socket,
  o: ConnectOptions,
  io: ConnectionIo,
  entries: KnownHostEntry[],
  auth: AuthPlan,
  where: string,
  fail: Fail,
): Promise<Client> {
  return new Promise<Client>((resolve, reject) => {
    let refusal: string | undefined;
    let isReady = false;
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
    const config: ConnectConfig = {
      sock: socket,
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
