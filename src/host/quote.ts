// The one way a value reaches a remote shell: POSIX single quotes, which sh, dash and bash all read the same.
import { OnevmmError } from '../util/errors.js';

// Characters no POSIX shell treats specially anywhere in a word (no globbing, expansion, tilde or operator);
// not `=` first, which zsh would expand to a command path.
const SAFE_WORD = /^[A-Za-z0-9_@%+:,./-][A-Za-z0-9_@%+=:,./-]*$/;
// With the u flag a surrogate range matches only halves that are not part of a pair.
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

// Returns `word` as one shell word: bare when it is made of safe characters only, else in single quotes.
export function quote(word: string): string {
  if (word.includes('\0')) {
    throw new OnevmmError('USAGE', `cannot pass ${preview(word)} to a shell: it contains a NUL byte`);
  }
  if (LONE_SURROGATE.test(word)) {
    // A lone UTF-16 surrogate has no UTF-8 encoding: the host would get U+FFFD instead.
    throw new OnevmmError('USAGE', `cannot pass ${preview(word)} to a shell: it is not valid Unicode`);
  }
  if (word === '') return "''";
  if (SAFE_WORD.test(word)) return word;
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

// Returns the words as one command line that runs them as argv. The first word is quoted when it has `=`,
// so that it is run as a command, never read as a variable assignment.
export function quoteCommand(words: readonly string[]): string {
  return words.map((word, i) => (i === 0 ? quoteCommandName(word) : quote(word))).join(' ');
}

function quoteCommandName(word: string): string {
  const quoted = quote(word);
  // A bare safe word has no quote characters, so wrapping it is enough.
  return quoted === word && word.includes('=') ? `'${word}'` : quoted;
}

function preview(word: string): string {
  const shown = JSON.stringify(word);
  return shown.length > 50 ? `${shown.slice(0, 49)}…"` : shown;
}
