// Decides whether to trust the key a host presented, under SSH_HOST_KEY_POLICY (strict | accept-new | off).
import { createHash } from 'node:crypto';
import { describeHost } from './errors.js';
import { checkHostKey, formatKnownHostsLine, keyTypeOfBlob, knownHostName } from './known-hosts.js';
import type { HostKeyStatus, KnownHostEntry } from './known-hosts.js';
import type { HostKeyPolicy } from './ssh-options.js';

export interface HostKeyQuestion {
  readonly policy: HostKeyPolicy;
  // The name as given, for messages.
  readonly host: string;
  // The address connected to: the name looked up in known_hosts.
  readonly hostName: string;
  readonly port: number;
  readonly key: Buffer;
  readonly entries: readonly KnownHostEntry[];
  readonly knownHostsFile: string;
}

export type HostKeyDecision =
  | { readonly accept: true; readonly status: HostKeyStatus | 'unchecked'; readonly append?: string }
  | { readonly accept: false; readonly status: HostKeyStatus | 'unreadable'; readonly message: string };

// Returns whether to go on, the line to append to known_hosts (accept-new), or why the key is refused.
export function decideHostKey(q: HostKeyQuestion): HostKeyDecision {
  if (q.policy === 'off') return { accept: true, status: 'unchecked' };
  const who = `host key for ${describeHost(q.host, q.port === 22 ? q.hostName : `${q.hostName}:${q.port}`)}`;
  const keyType = keyTypeOfBlob(q.key);
  if (keyType === undefined)
    return { accept: false, status: 'unreadable', message: `${who} could not be read` };
  const status = checkHostKey(q.entries, q.hostName, q.port, keyType, q.key);
  const offered = `(offered: ${keyType} SHA256:${createHash('sha256').update(q.key).digest('base64').replace(/=+$/, '')})`;
  switch (status) {
    case 'match':
      return { accept: true, status };
    case 'revoked':
      return {
        accept: false,
        status,
        message: `${who} is marked @revoked in ${q.knownHostsFile} ${offered}`,
      };
    case 'mismatch':
      return {
        accept: false,
        status,
        message:
          `${who} does not match the key in ${q.knownHostsFile} ${offered}: the host was reinstalled or ` +
          `someone is intercepting the connection; if the change is expected, remove the old key ` +
          `(ssh-keygen -R '${knownHostName(q.hostName, q.port)}' -f ${q.knownHostsFile}) and connect again`,
      };
    case 'unknown':
      if (q.policy === 'accept-new') {
        return { accept: true, status, append: formatKnownHostsLine(q.hostName, q.port, q.key) };
      }
      return {
        accept: false,
        status,
        message:
          `${who} is not in ${q.knownHostsFile}; add it ` +
          `(ssh-keyscan${q.port === 22 ? '' : ` -p ${q.port}`} ${q.hostName} >> ${q.knownHostsFile}) ` +
          `or set SSH_HOST_KEY_POLICY=accept-new ${offered}`,
      };
  }
}
