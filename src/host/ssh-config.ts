// ~/.ssh/config, the part onevmm honours: HostName, Port, User and IdentityFile under Host and Match blocks,
// first obtained value wins (IdentityFile accumulates), as ssh_config(5) says. Other keywords are skipped.
// Match criteria understood: all, host, originalhost, user, localuser, final (and their `!` negations);
// a block with any other criterion (exec, canonical, localnetwork, tagged) is not applied.
// Include is not followed.
import { ParseError } from '../util/errors.js';
import { matchHostPatterns, matchPatternList } from './host-patterns.js';

export interface SshConfigLine {
  readonly line: number;
  // Lower case, as ssh compares keywords.
  readonly keyword: string;
  readonly args: readonly string[];
}

export interface SshConfig {
  readonly file: string;
  readonly lines: readonly SshConfigLine[];
}

// What the config says about one host; absent fields were not set.
export interface SshHostConfig {
  readonly hostName?: string;
  readonly port?: number;
  readonly user?: string;
  // As written (with ~ and %-tokens); expanded once the final host, port and user are known.
  readonly identityFiles: readonly string[];
  // file:line of each IdentityFile, for messages.
  readonly identityFileSources: readonly string[];
}

export interface SshConfigContext {
  // The user ssh would log in as before the config (a user given by kvmrc, else the local user).
  readonly user: string;
  readonly localUser: string;
}

// Splits a config text into keyword lines; `file` names it in errors.
export function parseSshConfig(text: string, file: string): SshConfig {
  const lines: SshConfigLine[] = [];
  text.split('\n').forEach((raw, i) => {
    const words = splitArgs(raw, { file, line: i + 1 });
    const first = words[0];
    if (first === undefined) return;
    // `Keyword=value` and `Keyword = value` are the same as `Keyword value`.
    const eq = first.indexOf('=');
    const keyword = (eq >= 0 ? first.slice(0, eq) : first).toLowerCase();
    const args = eq >= 0 && eq < first.length - 1 ? [first.slice(eq + 1), ...words.slice(1)] : words.slice(1);
    if (eq < 0 && args[0] === '=') args.shift();
    else if (eq < 0 && args[0]?.startsWith('=')) args[0] = args[0].slice(1);
    lines.push({ line: i + 1, keyword, args });
  });
  return { file, lines };
}

// Returns the settings that apply to `host` (the name as given, before HostName).
export function lookupSshConfig(config: SshConfig, host: string, context: SshConfigContext): SshHostConfig {
  let active = true;
  let hostName: string | undefined;
  let port: number | undefined;
  let user: string | undefined;
  const identityFiles: string[] = [];
  const identityFileSources: string[] = [];
  for (const { line, keyword, args } of config.lines) {
    const at = { file: config.file, line };
    if (keyword === 'host') active = matchHostPatterns(host, args);
    else if (keyword === 'match') {
      const target = { host: hostName ?? host, originalHost: host, user: user ?? context.user };
      active = matchCriteria(args, target, context, at);
    } else if (!active) continue;
    else if (keyword === 'hostname') hostName ??= expandHostName(required(args, 'HostName', at), host);
    else if (keyword === 'port') port ??= parsePort(required(args, 'Port', at), at);
    else if (keyword === 'user') user ??= required(args, 'User', at);
    else if (keyword === 'identityfile') {
      identityFiles.push(required(args, 'IdentityFile', at));
      identityFileSources.push(`${config.file}:${line}`);
    }
  }
  return {
    ...(hostName === undefined ? {} : { hostName }),
    ...(port === undefined ? {} : { port }),
    ...(user === undefined ? {} : { user }),
    identityFiles,
    identityFileSources,
  };
}

interface Position {
  readonly file: string;
  readonly line: number;
}

function matchCriteria(
  args: readonly string[],
  target: { host: string; originalHost: string; user: string },
  context: SshConfigContext,
  at: Position,
): boolean {
  let result = true;
  for (let i = 0; i < args.length; i++) {
    const raw = args[i] ?? '';
    const negated = raw.startsWith('!');
    const criterion = (negated ? raw.slice(1) : raw).toLowerCase();
    let value: boolean;
    if (criterion === 'all') value = true;
    else if (criterion === 'final')
      value = true; // onevmm reads the config once, as ssh's final pass
    else if (['host', 'originalhost', 'user', 'localuser'].includes(criterion)) {
      const list = args[++i];
      if (list === undefined) throw new ParseError(at, `Match ${criterion} needs an argument`);
      const patterns = list.split(',');
      if (criterion === 'host') value = matchHostPatterns(target.host, patterns);
      else if (criterion === 'originalhost') value = matchHostPatterns(target.originalHost, patterns);
      else value = matchPatternList(criterion === 'user' ? target.user : context.localUser, patterns);
    } else {
      // exec, canonical, localnetwork, tagged…: cannot be decided here, so the block is not applied.
      if (['exec', 'localnetwork', 'tagged'].includes(criterion)) i++;
      return false;
    }
    if (value === negated) result = false;
  }
  return result;
}

function required(args: readonly string[], keyword: string, at: Position): string {
  const value = args[0];
  if (value === undefined || value === '') throw new ParseError(at, `${keyword} needs a value`);
  return value;
}

function parsePort(text: string, at: Position): number {
  const port = /^[0-9]{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(port >= 1 && port <= 65535)) throw new ParseError(at, `Port: expected 1-65535, got "${text}"`);
  return port;
}

// HostName may use %h (the host as given) and %%.
function expandHostName(value: string, host: string): string {
  return value.replace(/%([%h])/g, (_, token: string) => (token === '%' ? '%' : host));
}

// ssh's argv_split: words separated by blanks, "…" and '…' quoting, backslash escapes, # starts a comment.
function splitArgs(raw: string, at: Position): string[] {
  const words: string[] = [];
  let i = 0;
  for (;;) {
    while (raw[i] === ' ' || raw[i] === '\t' || raw[i] === '\r') i++;
    if (i >= raw.length || raw[i] === '#') return words;
    let word = '';
    let quote: string | undefined;
    for (; i < raw.length; i++) {
      const c = raw[i] ?? '';
      if (quote === undefined && (c === ' ' || c === '\t' || c === '\r')) break;
      if (c === '\\' && i + 1 < raw.length && '"\'\\ '.includes(raw[i + 1] ?? '')) word += raw[++i];
      else if (quote === undefined && (c === '"' || c === "'")) quote = c;
      else if (c === quote) quote = undefined;
      else word += c;
    }
    if (quote !== undefined) throw new ParseError(at, `unterminated ${quote} quote`);
    words.push(word);
  }
}
