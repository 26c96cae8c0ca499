// Reads one bash word (quotes, escapes, $VAR/${VAR…}, ~) into parts to expand later; rejects what would run code.
import type { CursorMark, ShellCursor } from './shell-cursor.js';

// The ${NAME<op>word} operators kvmrc supports: plain, default (-, :-) and alternative (+, :+).
export type ParamOp = '' | '-' | ':-' | '+' | ':+';

export type WordPart =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'home'; readonly at: CursorMark }
  | {
      readonly kind: 'param';
      readonly name: string;
      readonly op: ParamOp;
      readonly word: readonly WordPart[];
    };

export interface Word {
  readonly parts: readonly WordPart[];
  // The word as written.
  readonly raw: string;
  readonly start: CursorMark;
  // True when the word has no quotes, escapes or expansions (e.g. `export`, a bare name).
  readonly literal: boolean;
}

export interface WordOptions {
  // Expand `~` at the start and after each unquoted `:` (bash does so in assignment values).
  readonly tilde: boolean;
  // Reject unquoted `{` (export arguments undergo brace expansion; assignments do not).
  readonly braceIsError: boolean;
}

const NEVER_RUN = 'kvmrc is read, never executed';
const METACHARS = new Set([' ', '\t', '\n', ';', '&', '|', '<', '>', '(', ')']);
const NAME_START = /^[A-Za-z_]$/;
const NAME_CHAR = /^[A-Za-z0-9_]$/;
const SPECIAL_PARAMS = new Set(['@', '*', '#', '?', '-', '$', '!']);

// Accumulates parts, merging adjacent text.
class Parts {
  readonly list: WordPart[] = [];
  literal = true;

  text(text: string): void {
    const last = this.list.at(-1);
    if (last?.kind === 'text') this.list[this.list.length - 1] = { kind: 'text', text: last.text + text };
    else this.list.push({ kind: 'text', text });
  }

  push(part: WordPart): void {
    this.literal = false;
    this.list.push(part);
  }
}

// Returns true when `char` can start a word (it is not a blank, newline, operator or comment).
export function isWordStart(char: string | undefined): char is string {
  return char !== undefined && char !== '#' && !METACHARS.has(char);
}

// Reads a word at the cursor up to the next blank, newline or operator.
export function readWord(cur: ShellCursor, options: WordOptions): Word {
  const start = cur.mark();
  const parts = new Parts();
  readUnquoted(cur, parts, options, undefined);
  return { parts: parts.list, raw: cur.since(start), start, literal: parts.literal };
}

// Reads a variable name ([A-Za-z_][A-Za-z0-9_]*); returns '' when none starts here.
export function readName(cur: ShellCursor): string {
  let name = '';
  if (!NAME_START.test(cur.peek() ?? '')) return name;
  for (let c = cur.peek(); c !== undefined && NAME_CHAR.test(c); c = cur.peek()) name += cur.next();
  return name;
}

// Unquoted text; `braceOpen` is set inside a ${NAME:-…} word, which ends at `}` instead of a blank.
function readUnquoted(
  cur: ShellCursor,
  parts: Parts,
  options: WordOptions,
  braceOpen: CursorMark | undefined,
): void {
  let tildeHere = options.tilde;
  for (;;) {
    const c = cur.peek();
    if (c === undefined) {
      if (braceOpen) cur.fail('unterminated ${…} (opened here): no closing }', braceOpen);
      return;
    }
    if (braceOpen ? c === '}' : METACHARS.has(c)) return;
    if (c === '~' && tildeHere) {
      readTilde(cur, parts, braceOpen !== undefined);
      tildeHere = false;
      continue;
    }
    tildeHere = options.tilde && c === ':';
    if (c === '\r') cur.fail('carriage return outside quotes (does the file have CRLF line endings?)');
    if (c === '`') cur.fail(`backtick command substitution \`…\` is not allowed; ${NEVER_RUN}`);
    if (braceOpen && (c === '<' || c === '>')) rejectProcessSubstitution(cur, c);
    if (c === '{' && options.braceIsError && !braceOpen) {
      cur.fail('unquoted { in an export argument would be brace-expanded by bash; quote it');
    }
    if (c === "'") readSingle(cur, parts);
    else if (c === '"') readDouble(cur, parts);
    else if (c === '$') readDollar(cur, parts, false);
    else if (c === '\\') {
      cur.next();
      parts.literal = false;
      parts.text(cur.next() ?? '\\'); // a backslash at the very end of the file stays literal, as in bash
    } else parts.text(cur.next() ?? '');
  }
}

// Inside an unquoted ${…} word bash runs <(…) and >(…), although a bare < or > there is literal.
function rejectProcessSubstitution(cur: ShellCursor, c: string): void {
  const at = cur.mark();
  cur.next();
  if (cur.peek() === '(') cur.fail(`process substitution ${c}(…) is not allowed; ${NEVER_RUN}`, at);
  cur.reset(at);
}

// `~` where bash expands it: only `~` alone or `~/…` (the user's $HOME); `~name`, `~+`, `~-` are rejected.
function readTilde(cur: ShellCursor, parts: Parts, inBrace: boolean): void {
  const at = cur.mark();
  cur.next();
  const n = cur.peek();
  const ends = n === undefined || n === '/' || n === ':' || (inBrace ? n === '}' : METACHARS.has(n));
  if (!ends) {
    const found = /^~[^/:\s;|&<>()}]*/u.exec(cur.text.slice(at.pos))?.[0] ?? '~';
    cur.fail(`${found} is not supported: only ~ and ~/… (your $HOME) are expanded; quote the ~`, at);
  }
  parts.push({ kind: 'home', at });
}

// '…': everything literal up to the next single quote, newlines and backslashes included.
function readSingle(cur: ShellCursor, parts: Parts): void {
  const open = cur.mark();
  cur.next();
  parts.literal = false;
  let text = '';
  for (let c = cur.next(); c !== "'"; c = cur.next()) {
    if (c === undefined) cur.fail('unterminated single quote (opened here)', open);
    text += c;
  }
  parts.text(text);
}

// "…": only \" \\ \$ \` and backslash-newline are escapes; $ expansions happen inside.
// `escapeAll`: "…" nested in a "${…}" word, where bash removes the backslash before any character.
function readDouble(cur: ShellCursor, parts: Parts, escapeAll = false): void {
  const open = cur.mark();
  cur.next();
  parts.literal = false;
  readDoubleBody(cur, parts, undefined, open, escapeAll);
  cur.next();
}

// The inside of "…", or of a ${NAME:-…} word within "…" (then it ends at `}` and `\}` is an escape too).
function readDoubleBody(
  cur: ShellCursor,
  parts: Parts,
  braceOpen: CursorMark | undefined,
  quoteOpen: CursorMark,
  escapeAll = false,
): void {
  for (;;) {
    const c = cur.peek();
    if (c === undefined) {
      if (braceOpen) cur.fail('unterminated ${…} (opened here): no closing }', braceOpen);
      cur.fail('unterminated double quote (opened here)', quoteOpen);
    }
    if (braceOpen ? c === '}' : c === '"') return;
    if (c === '`') cur.fail(`backtick command substitution \`…\` is not allowed; ${NEVER_RUN}`);
    if (c === '$') {
      readDollar(cur, parts, true, braceOpen !== undefined);
    } else if (c === '\\') {
      cur.next();
      const e = cur.next();
      if (e === undefined) continue; // reported as unterminated on the next turn
      const escapes = braceOpen ? '$`"\\}' : '$`"\\';
      parts.text(escapeAll || escapes.includes(e) ? e : `\\${e}`);
    } else if (braceOpen && c === '"') {
      readDouble(cur, parts, true);
    } else if (braceOpen && c === "'") {
      cur.fail('a single quote inside "${…}" is not supported (bash keeps it but also pairs it); remove it');
    } else {
      parts.text(cur.next() ?? '');
    }
  }
}

// `$…` in a word or in "…": a variable reference, a literal `$`, or something that would run code (rejected).
// `inQuotedBrace`: inside the word of a ${…} that is within "…".
function readDollar(cur: ShellCursor, parts: Parts, quoted: boolean, inQuotedBrace = false): void {
  const at = cur.mark();
  cur.next();
  const n = cur.peek();
  if (n === '{') return readBraced(cur, parts, quoted, at);
  if (n === '(') {
    cur.next();
    if (cur.peek() === '(') cur.fail(`arithmetic expansion $((…)) is not allowed; ${NEVER_RUN}`, at);
    cur.fail(`command substitution $(…) is not allowed; ${NEVER_RUN}`, at);
  }
  if (n === '[') cur.fail(`arithmetic expansion $[…] is not allowed; ${NEVER_RUN}`, at);
  if (!quoted && n === "'") cur.fail("ANSI-C quoting $'…' is not supported; use '…' or \"…\"", at);
  if (!quoted && n === '"') cur.fail('locale quoting $"…" is not supported; use "…"', at);
  if (n !== undefined && (SPECIAL_PARAMS.has(n) || /^[0-9]$/.test(n))) {
    cur.fail(`special parameter $${n} is not supported; kvmrc sees only variables`, at);
  }
  const name = readName(cur);
  if (name === '') return parts.text('$');
  if (name === '_') cur.fail('special parameter $_ is not supported; kvmrc sees only variables', at);
  if (inQuotedBrace && cur.peek() === '"') {
    // bash 5.2 drops the value: "${U-$A"x"}" gives '' where ${U-$A"x"} gives the value of A then x.
    cur.fail(`write \${${name}} here: bash mis-expands $${name} followed by " inside "\${…}"`, at);
  }
  parts.push({ kind: 'param', name, op: '', word: [] });
}

// ${NAME}, ${NAME-word}, ${NAME:-word}, ${NAME+word}, ${NAME:+word}; other forms are rejected.
function readBraced(cur: ShellCursor, parts: Parts, quoted: boolean, at: CursorMark): void {
  cur.next();
  const first = cur.peek();
  if (first === undefined) cur.fail('unterminated ${…} (opened here): no closing }', at);
  if (first === '}') cur.fail('empty ${} (bad substitution)', at);
  if (first === '#' || first === '!') {
    cur.fail(`\${${first}…} (${first === '#' ? 'length' : 'indirection'}) is not supported`, at);
  }
  const name = readName(cur);
  if (name === '' || name === '_') cur.fail(`\${${first}…}: only variable names are supported`, at);
  cur.peek(); // skips line continuations before the operator
  const opAt = cur.mark();
  let op = cur.next();
  if (op === ':' && cur.peek() !== undefined) op += cur.next() ?? '';
  if (op === '}') return parts.push({ kind: 'param', name, op: '', word: [] });
  if (op === undefined || op === ':') cur.fail('unterminated ${…} (opened here): no closing }', at);
  if (op !== '-' && op !== ':-' && op !== '+' && op !== ':+') {
    const what = /^:?[=?]$/.test(op) ? 'assigns or aborts' : 'is not supported';
    cur.fail(`\${${name}${op}…} ${what}; only \${${name}}, :- - :+ + are allowed`, opAt);
  }
  const word = new Parts();
  if (quoted) readDoubleBody(cur, word, at, at);
  else readUnquoted(cur, word, { tilde: true, braceIsError: false }, at);
  cur.next();
  parts.push({ kind: 'param', name, op, word: word.list });
}
