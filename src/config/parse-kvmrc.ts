// Reads kvmrc as bash's `set -a; . kvmrc` would, for a subset of bash, without executing anything.
// Hand-written because dotenv disagrees with bash on quoting and dotenv-expand runs $(…) (reference/peers.md §3.4).
//
// Supported: blank lines, # comments, NAME=value and NAME+=value (several per line), `export NAME[=value] …`,
// `;` between or after statements, bash quoting ('…', "…", backslashes, line continuations, multi-line
// quotes), $NAME ${NAME} ${NAME:-w} ${NAME-w} ${NAME:+w} ${NAME+w} (earlier assignments first, then the env),
// and ~ / ~/… at the start of a value or after an unquoted `:` (from HOME, as bash does in assignments).
// Anything else — commands, control flow, $(…), backticks, arithmetic, pipes, redirections — is a ParseError.
// Variables bash sets itself ($PWD, $RANDOM, $BASH_VERSION…) are seen only when options.env has them.
import { ShellCursor } from './shell-cursor.js';
import type { CursorMark } from './shell-cursor.js';
import { expandWord } from './shell-expand.js';
import type { Lookup } from './shell-expand.js';
import { isWordStart, readName, readWord } from './shell-words.js';
import type { Word, WordPart } from './shell-words.js';

export interface ParseKvmrcOptions {
  // The name used in error messages (e.g. the path).
  readonly file: string;
  // The environment the file is read in; ${VAR} falls back to it.
  readonly env?: Readonly<Record<string, string | undefined>>;
}

interface Assignment {
  readonly name: string;
  readonly append: boolean;
  readonly parts: readonly WordPart[];
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const KEYWORDS = new Set(
  'if then else elif fi for while until do done case esac function select time coproc { } ! [[ ]]'.split(' '),
);

// Returns the variables a kvmrc assigns or exports, with their values after expansion.
export function parseKvmrc(text: string, options: ParseKvmrcOptions): Record<string, string> {
  const cur = new ShellCursor(text, options.file);
  rejectNul(cur);
  const env = options.env ?? {};
  const vars = Object.create(null) as Record<string, string>;
  const lookup: Lookup = (name) =>
    name in vars ? vars[name] : Object.hasOwn(env, name) ? env[name] : undefined;
  for (;;) {
    skipBlanks(cur);
    const c = cur.peek();
    if (c === undefined) return vars;
    if (c === '\n') cur.next();
    else if (c === '#') skipComment(cur);
    else if (c === ';') cur.fail('unexpected ; (no statement before it)');
    else {
      readStatement(cur, vars, lookup, env);
      skipBlanks(cur);
      const end = cur.peek();
      if (end === ';') cur.next();
      else if (end !== undefined && end !== '\n' && end !== '#') rejectOperator(cur, end);
    }
  }
}

// One statement: assignments, or `export` with its arguments.
function readStatement(
  cur: ShellCursor,
  vars: Record<string, string>,
  lookup: Lookup,
  env: Readonly<Record<string, string | undefined>>,
): void {
  const first = readAssignment(cur, false);
  if (first) {
    // Plain assignments are expanded and made one after the other: `A=1 B=$A` gives B=1.
    assign(vars, lookup, first, expandWord(first.parts, lookup, cur));
    for (skipBlanks(cur); isWordStart(cur.peek()); skipBlanks(cur)) {
      const next = readAssignment(cur, false);
      if (!next) rejectWord(cur, readWord(cur, { tilde: false, braceIsError: false }), 'after assignments ');
      assign(vars, lookup, next, expandWord(next.parts, lookup, cur));
    }
    return;
  }
  const word = readWord(cur, { tilde: false, braceIsError: false });
  if (!word.literal || word.raw !== 'export') rejectWord(cur, word, '');
  readExport(cur, vars, lookup, env, word.start);
}

// `export A=1 B C+=2`: bash expands every argument before export runs, so `export A=1 B=$A` sees the old A.
function readExport(
  cur: ShellCursor,
  vars: Record<string, string>,
  lookup: Lookup,
  env: Readonly<Record<string, string | undefined>>,
  at: CursorMark,
): void {
  const args: (Assignment | string)[] = [];
  for (skipBlanks(cur); isWordStart(cur.peek()); skipBlanks(cur)) {
    const assignment = readAssignment(cur, true);
    if (assignment) {
      args.push(assignment);
      continue;
    }
    const word = readWord(cur, { tilde: false, braceIsError: true });
    if (word.literal && NAME.test(word.raw)) args.push(word.raw);
    else if (word.raw.startsWith('-'))
      cur.fail(`export options (${show(word.raw)}) are not supported`, word.start);
    else if (word.raw.includes('=')) rejectWord(cur, word, '');
    else cur.fail(`export takes NAME or NAME=value, found ${show(word.raw)}`, word.start);
  }
  if (args.length === 0) cur.fail('export with no name (it would print the environment)', at);
  const values = args.map((arg) => (typeof arg === 'string' ? '' : expandWord(arg.parts, lookup, cur)));
  args.forEach((arg, i) => {
    if (typeof arg !== 'string') assign(vars, lookup, arg, values[i] ?? '');
    else if (!(arg in vars) && Object.hasOwn(env, arg) && env[arg] !== undefined) vars[arg] = env[arg];
  });
}

// NAME=value or NAME+=value at the cursor; undefined (cursor unmoved) when the word is not an assignment.
function readAssignment(cur: ShellCursor, inExport: boolean): Assignment | undefined {
  const start = cur.mark();
  const name = readName(cur);
  let append = false;
  if (name !== '' && cur.peek() === '+') {
    cur.next();
    append = true;
  }
  if (name === '' || cur.peek() !== '=') {
    cur.reset(start);
    return undefined;
  }
  cur.next();
  const value = readWord(cur, { tilde: true, braceIsError: inExport });
  return { name, append, parts: value.parts };
}

function assign(vars: Record<string, string>, lookup: Lookup, assignment: Assignment, value: string): void {
  vars[assignment.name] = assignment.append ? (lookup(assignment.name) ?? '') + value : value;
}

// A word where only an assignment may stand: say what it is.
function rejectWord(cur: ShellCursor, word: Word, where: string): never {
  const fail = (reason: string): never => cur.fail(reason, word.start);
  const eq = word.raw.indexOf('=');
  if (eq > 0)
    fail(`invalid variable name ${show(word.raw.slice(0, eq))} (letters, digits and _; no leading digit)`);
  if (word.literal && KEYWORDS.has(word.raw)) {
    fail(`${show(word.raw)} (control flow) is not allowed; kvmrc holds only assignments`);
  }
  if (word.literal && (word.raw === 'source' || word.raw === '.')) {
    fail(`${show(word.raw)} is not allowed; kvmrc cannot include other files`);
  }
  return fail(`command ${show(word.raw)} ${where}is not allowed; kvmrc holds only NAME=value and export`);
}

// An operator where a statement must end: pipes, &, redirections, parentheses.
function rejectOperator(cur: ShellCursor, char: string): never {
  const at = cur.mark();
  cur.next();
  const doubled = cur.peek() === char;
  const op = doubled ? char + char : char;
  const what: Record<string, string> = {
    '|': doubled ? 'control operator ||' : 'pipe |',
    '&': doubled ? 'control operator &&' : 'background operator &',
    '<': `redirection ${op}`,
    '>': `redirection ${op}`,
    '(': 'parenthesis ( (subshell, function or array)',
    ')': 'parenthesis )',
  };
  return cur.fail(`${what[char] ?? show(char)} is not allowed; kvmrc is read, never executed`, at);
}

function skipBlanks(cur: ShellCursor): void {
  for (let c = cur.peek(); c === ' ' || c === '\t'; c = cur.peek()) cur.next();
}

function skipComment(cur: ShellCursor): void {
  for (let c = cur.peekRaw(); c !== undefined && c !== '\n'; c = cur.peekRaw()) cur.next();
}

// bash silently drops NUL bytes; a kvmrc with one is damaged.
function rejectNul(cur: ShellCursor): void {
  const at = cur.text.indexOf('\0');
  if (at < 0) return;
  while (cur.mark().pos < at) cur.next();
  cur.fail('NUL byte in the file');
}

// Quotes a fragment of the file for a message, on one line and short.
function show(text: string): string {
  const line = text.replaceAll('\n', '\\n');
  return `\`${line.length > 40 ? `${line.slice(0, 40)}…` : line}\``;
}
