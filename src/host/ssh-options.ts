// Connection options for a host: kvmrc's SSH_* values beat ~/.ssh/config, which beats the defaults.
// Everything here is pure except loadSshContext, the one function that reads files.
import { existsSync, readFileSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import path from 'node:path';
import { OnevmmError } from '../util/errors.js';
import { lookupSshConfig, parseSshConfig } from './ssh-config.js';
import type { SshConfig } from './ssh-config.js';

export type HostKeyPolicy = 'strict' | 'accept-new' | 'off';

// The host-independent SSH settings of kvmrc, validated, defaults applied.
export interface SshSettings {
  readonly user?: string;
  readonly port?: number;
  readonly identity?: string;
  readonly knownHostsFile: string;
  readonly hostKeyPolicy: HostKeyPolicy;
  readonly connectTimeoutMs: number;
  readonly maxChannels: number;
  // Long-lived virsh shells per host for short virsh commands (0: a process per command).
  readonly virshShells: number;
  readonly commandTimeoutSeconds: number;
}

// Facts about the local account that the defaults come from.
export interface LocalContext {
  readonly home: string;
  readonly user: string;
  // SSH_AUTH_SOCK, when set.
  readonly agentSocket?: string;
  // Which of ~/.ssh/id_ed25519, id_ecdsa, id_rsa exist, in that order.
  readonly defaultIdentities: readonly string[];
}

export interface IdentityFile {
  readonly path: string;
  // Where it was configured: "kvmrc SSH_IDENTITY", "<config>:<line>", or "default".
  readonly origin: string;
}

// Everything needed to open and check one host's connection.
export interface HostOptions {
  // The name as given (used in messages and for ~/.ssh/config lookups).
  readonly host: string;
  // The address to connect to (HostName), which is also the name checked in known_hosts.
  readonly hostName: string;
  readonly port: number;
  readonly user: string;
  // Tried in order: explicit identities, then the agent, then (only if none is explicit) the default files.
  readonly identities: readonly IdentityFile[];
  readonly agentSocket?: string;
  readonly knownHostsFile: string;
  readonly hostKeyPolicy: HostKeyPolicy;
  readonly connectTimeoutMs: number;
  readonly maxChannels: number;
  // At most this many of the channels hold virsh shells (always one fewer than maxChannels).
  readonly virshShells: number;
}

// OpenSSH's sshd allows 10 sessions per connection (MaxSessions); one is kept free for the command
// that kills a timed-out or cancelled one (remote-kill.ts), which would otherwise be refused.
export const DEFAULT_MAX_CHANNELS = 9;
// Shells per host: enough for the actions a host runs at once to rarely wait for one (a command takes
// ~1 ms in a shell), few enough to leave most channels to commands that need their own process.
export const DEFAULT_VIRSH_SHELLS = 4;

export const DEFAULT_IDENTITY_NAMES = ['id_ed25519', 'id_ecdsa', 'id_rsa'] as const;
const POLICIES: readonly HostKeyPolicy[] = ['strict', 'accept-new', 'off'];
const HOST = /^[A-Za-z0-9_.:%][A-Za-z0-9_.:%-]*$/;

// Reads and checks the SSH_* and COMMAND_TIMEOUT values of kvmrc (empty values count as unset).
export function readSshSettings(
  kvmrc: Readonly<Record<string, string | undefined>>,
  home: string,
): SshSettings {
  const get = (key: string): string | undefined => (kvmrc[key] === '' ? undefined : kvmrc[key]);
  const user = get('SSH_USER');
  if (user !== undefined && !/^[^\s:@/]+$/.test(user)) {
    fail('SSH_USER', 'a user name (no blanks, ":", "@" or "/")', user);
  }
  const port = get('SSH_PORT');
  const identity = get('SSH_IDENTITY');
  const policy = get('SSH_HOST_KEY_POLICY') ?? 'strict';
  if (!POLICIES.includes(policy as HostKeyPolicy))
    fail('SSH_HOST_KEY_POLICY', 'strict, accept-new or off', policy);
  return {
    ...(user === undefined ? {} : { user }),
    ...(port === undefined ? {} : { port: integer('SSH_PORT', port, 1, 65535) }),
    ...(identity === undefined ? {} : { identity: expandHome(identity, home) }),
    knownHostsFile: expandHome(get('SSH_KNOWN_HOSTS') ?? '~/.ssh/known_hosts', home),
    hostKeyPolicy: policy as HostKeyPolicy,
    connectTimeoutMs: seconds('SSH_CONNECT_TIMEOUT', get('SSH_CONNECT_TIMEOUT') ?? '10') * 1000,
    maxChannels: integer(
      'SSH_MAX_CHANNELS',
      get('SSH_MAX_CHANNELS') ?? String(DEFAULT_MAX_CHANNELS),
      1,
      1000,
    ),
    virshShells: integer('VIRSH_SHELLS', get('VIRSH_SHELLS') ?? String(DEFAULT_VIRSH_SHELLS), 0, 64),
    commandTimeoutSeconds: seconds('COMMAND_TIMEOUT', get('COMMAND_TIMEOUT') ?? '60'),
  };
}

// Combines kvmrc settings, the ssh config's entry for `host` and the local defaults.
export function resolveHostOptions(
  host: string,
  settings: SshSettings,
  config: SshConfig | undefined,
  local: LocalContext,
): HostOptions {
  if (!HOST.test(host)) {
    throw new OnevmmError('USAGE', `invalid host name ${JSON.stringify(host)}`);
  }
  const fromConfig = config
    ? lookupSshConfig(config, host, { user: settings.user ?? local.user, localUser: local.user })
    : { identityFiles: [], identityFileSources: [] };
  const hostName = fromConfig.hostName ?? host;
  const port = settings.port ?? fromConfig.port ?? 22;
  const user = settings.user ?? fromConfig.user ?? local.user;
  const tokens = { d: local.home, h: hostName, n: host, p: String(port), r: user, u: local.user };
  const explicit: IdentityFile[] = settings.identity
    ? [{ path: settings.identity, origin: 'kvmrc SSH_IDENTITY' }]
    : fromConfig.identityFiles.map((file, i) => {
        const origin = fromConfig.identityFileSources[i] ?? 'ssh config';
        return { path: expandHome(expandTokens(file, tokens, origin), local.home), origin };
      });
  const defaults = local.defaultIdentities.map((file) => ({ path: file, origin: 'default' }));
  return {
    host,
    hostName,
    port,
    user,
    identities: explicit.length > 0 ? explicit : defaults,
    ...(local.agentSocket ? { agentSocket: local.agentSocket } : {}),
    knownHostsFile: settings.knownHostsFile,
    hostKeyPolicy: settings.hostKeyPolicy,
    connectTimeoutMs: settings.connectTimeoutMs,
    maxChannels: settings.maxChannels,
    virshShells: Math.min(settings.virshShells, settings.maxChannels - 1),
  };
}

export interface SshContext {
  readonly settings: SshSettings;
  readonly config: SshConfig | undefined;
  readonly local: LocalContext;
}

// The edge: reads ~/.ssh/config (if any) and looks for the default identities.
export function loadSshContext(
  kvmrc: Readonly<Record<string, string | undefined>>,
  env: Readonly<Record<string, string | undefined>> = process.env,
): SshContext {
  const home = env.HOME ?? homedir();
  const sshDir = path.join(home, '.ssh');
  const configFile = path.join(sshDir, 'config');
  const config = existsSync(configFile)
    ? parseSshConfig(readFileSync(configFile, 'utf8'), configFile)
    : undefined;
  const local: LocalContext = {
    home,
    user: env.USER ?? userInfo().username,
    ...(env.SSH_AUTH_SOCK ? { agentSocket: env.SSH_AUTH_SOCK } : {}),
    defaultIdentities: DEFAULT_IDENTITY_NAMES.map((name) => path.join(sshDir, name)).filter((f) =>
      existsSync(f),
    ),
  };
  return { settings: readSshSettings(kvmrc, home), config, local };
}

function integer(key: string, text: string, min: number, max: number): number {
  const value = /^[0-9]+$/.test(text.trim()) ? Number(text) : NaN;
  if (!(value >= min && value <= max)) fail(key, `an integer from ${min} to ${max}`, text);
  return value;
}

function seconds(key: string, text: string): number {
  const value = /^[0-9]+(\.[0-9]+)?$/.test(text.trim()) ? Number(text) : NaN;
  if (!(value > 0 && value <= 86_400)) fail(key, 'a number of seconds greater than 0 (at most 86400)', text);
  return value;
}

function fail(key: string, expected: string, got: string): never {
  throw new OnevmmError('CONFIG', `kvmrc ${key}: expected ${expected}, got ${JSON.stringify(got)}`);
}

function expandHome(file: string, home: string): string {
  return file === '~' ? home : file.startsWith('~/') ? path.join(home, file.slice(2)) : file;
}

// ssh_config(5) TOKENS for IdentityFile: %% %d %h %n %p %r %u (others are refused, not guessed).
function expandTokens(value: string, tokens: Record<string, string>, origin: string): string {
  return value.replace(/%(.?)/g, (_, token: string) => {
    if (token === '%') return '%';
    const replacement = tokens[token];
    if (replacement === undefined) {
      throw new OnevmmError('CONFIG', `${origin}: IdentityFile token %${token} is not supported`);
    }
    return replacement;
  });
}
