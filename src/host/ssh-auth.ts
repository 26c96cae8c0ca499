// The authentication methods to offer a host, in order, with the private keys read and checked up front so
// that a missing or encrypted key is named in the error instead of being skipped silently.
import type { AnyAuthMethod, ParsedKey } from 'ssh2';
import { loadSsh2 } from './ssh2-load.js';
import type { HostOptions, IdentityFile } from './ssh-options.js';

export interface AuthPlan {
  readonly methods: readonly AnyAuthMethod[];
  // What will be tried, for messages: "agent", key paths.
  readonly tried: readonly string[];
  // Identities that cannot be used, and why.
  readonly problems: readonly string[];
}

// Explicit identities first, then the agent; with no explicit identity, the agent then the default keys.
export function planAuthentication(options: HostOptions, readFile: (file: string) => Buffer): AuthPlan {
  const username = options.user;
  const explicit = options.identities.some((identity) => identity.origin !== 'default');
  const methods: AnyAuthMethod[] = [];
  const tried: string[] = [];
  const problems: string[] = [];
  const addAgent = (): void => {
    if (options.agentSocket === undefined) return;
    methods.push({ type: 'agent', username, agent: options.agentSocket });
    tried.push('agent');
  };
  if (!explicit) addAgent();
  for (const identity of options.identities) {
    const key = readIdentity(identity, readFile);
    if (typeof key === 'string') problems.push(key);
    else {
      methods.push({ type: 'publickey', username, key });
      tried.push(identity.path);
    }
  }
  if (explicit) addAgent();
  return { methods, tried, problems };
}

// The key file's contents, or why it cannot be used.
function readIdentity(identity: IdentityFile, readFile: (file: string) => Buffer): Buffer | string {
  const where = `${identity.path} (${identity.origin})`;
  let text: Buffer;
  try {
    text = readFile(identity.path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    return `${where}: cannot read it (${code})`;
  }
  const parsed = loadSsh2().parseKey(text);
  if (parsed instanceof Error) return `${where}: ${parsed.message}`;
  // ssh2 returns an array for some OpenSSH files (its own types do not say so).
  const key: ParsedKey | undefined = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key?.isPrivateKey()) return `${where}: not a private key`;
  return text;
}
