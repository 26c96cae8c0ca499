// Expands the parts of a word read by readWord, as bash does for an assignment value (no word splitting, no globs).
import type { CursorMark, ShellCursor } from './shell-cursor.js';
import type { ParamOp, WordPart } from './shell-words.js';

// A variable's value, or undefined when it is unset.
export type Lookup = (name: string) => string | undefined;

// Expands a word's parts to its value; ~ uses HOME and fails when HOME is unset.
export function expandWord(parts: readonly WordPart[], lookup: Lookup, cur: ShellCursor): string {
  let value = '';
  for (const part of parts) {
    if (part.kind === 'text') value += part.text;
    else if (part.kind === 'home') value += expandHome(lookup, cur, part.at);
    else value += expandParam(part.name, part.op, part.word, lookup, cur);
  }
  return value;
}

function expandHome(lookup: Lookup, cur: ShellCursor, at: CursorMark): string {
  const home = lookup('HOME');
  if (home === undefined) cur.fail('~ expands to $HOME, which is not set; write the path in full', at);
  return home;
}

// The default/alternative word is expanded only when it is used, as in bash.
function expandParam(
  name: string,
  op: ParamOp,
  word: readonly WordPart[],
  lookup: Lookup,
  cur: ShellCursor,
): string {
  const value = lookup(name);
  const isSet = op.startsWith(':') ? value !== undefined && value !== '' : value !== undefined;
  switch (op) {
    case '':
      return value ?? '';
    case '-':
    case ':-':
      return isSet ? (value ?? '') : expandWord(word, lookup, cur);
    case '+':
    case ':+':
      return isSet ? expandWord(word, lookup, cur) : '';
  }
}
