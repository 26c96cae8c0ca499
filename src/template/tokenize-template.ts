// Tokenizer for OpenNebula's template syntax (reference §5.3), modelled on oned's
// src/parsers/template_parser.l. No npm package parses this format (peers.md §3.5), so onevmm has
// this small hand-written tokenizer and the recursive-descent parser in parse-template.ts.
import { ParseError } from '../util/errors.js';

export type TokenKind =
  | 'name' // NAME or vector key, [A-Za-z0-9_]+ as written
  | 'equals'
  | 'comma'
  | 'open' // [
  | 'close' // ]
  | 'value' // quoted or unquoted value right after '='; `value` holds it unescaped
  | 'empty' // nothing after '=' but blanks, then end of line, a comment or end of file
  | 'other' // a character that starts no token
  | 'eof';

export interface Token {
  readonly kind: TokenKind;
  readonly value: string;
  // Offsets of the token's source text, [start, end).
  readonly start: number;
  readonly end: number;
}

// Layout between tokens: blanks, newlines and `#` comments. oned's blanks are space and tab; we
// also take CR, so CRLF files read like LF ones (oned keeps the CR at the end of unquoted values).
const LAYOUT = /(?:[ \t\r\n]+|#[^\n]*)*/y;
// After '=' the value must start on the same line: only blanks are skipped.
const BLANKS = /[ \t\r]*/y;
const NAME = /[A-Za-z0-9_]+/y;
// An unquoted value runs up to a blank, newline, '=', '#', ',', '[' or ']'. As in oned, a '"' after
// its first character is kept literally (`ab"c`).
const BARE = /[^ \t\r\n=#,[\]]+/y;
const SYMBOLS: Readonly<Record<string, TokenKind>> = {
  '=': 'equals',
  ',': 'comma',
  '[': 'open',
  ']': 'close',
};

// Returns a function giving the next token of TEXT on each call, then 'eof' forever. Like oned's
// lexer it has a value mode: the token after '=' is read as a value, '[' or 'empty'.
export function tokenizeTemplate(text: string, file: string): () => Token {
  // oned ignores a byte-order mark (its lexer skips bytes it cannot match).
  let position = text.startsWith('\uFEFF') ? 1 : 0;
  let previous: TokenKind | undefined;
  return () => {
    const token =
      previous === 'equals'
        ? scanValue(text, file, skip(BLANKS, text, position))
        : scanToken(text, skip(LAYOUT, text, position));
    position = token.end;
    previous = token.kind;
    return token;
  };
}

// Builds the ParseError for a problem at OFFSET of TEXT (1-based line and column, in code points).
export function createParseError(text: string, file: string, offset: number, reason: string): ParseError {
  const before = text.slice(0, offset).replace(/^\uFEFF/, '');
  const lines = before.split('\n');
  const column = [...(lines.at(-1) ?? '')].length + 1;
  return new ParseError({ file, line: lines.length, column }, reason);
}

// Names a token for an error message: `'='`, `'"a quoted value"'`, `end of line`, `end of file`.
export function describeToken(text: string, token: Token): string {
  if (token.kind === 'eof') return 'end of file';
  if (token.kind === 'empty') {
    const next = text[token.start];
    if (next === undefined) return 'end of file';
    return next === '#' ? 'a comment' : 'end of line';
  }
  const source = text.slice(token.start, token.end).split(/\r?\n/)[0] ?? '';
  return source.length > 40 ? `'${source.slice(0, 40)}...'` : `'${source}'`;
}

function skip(pattern: RegExp, text: string, position: number): number {
  pattern.lastIndex = position;
  pattern.test(text);
  return pattern.lastIndex;
}

// End of PATTERN's (sticky) match at POSITION, or POSITION when it does not match.
function matchEnd(pattern: RegExp, text: string, position: number): number {
  pattern.lastIndex = position;
  return pattern.test(text) ? pattern.lastIndex : position;
}

function scanToken(text: string, start: number): Token {
  if (start >= text.length) return { kind: 'eof', value: '', start, end: start };
  const nameEnd = matchEnd(NAME, text, start);
  if (nameEnd > start) return { kind: 'name', value: text.slice(start, nameEnd), start, end: nameEnd };
  const char = String.fromCodePoint(text.codePointAt(start) ?? 0);
  return { kind: SYMBOLS[char] ?? 'other', value: char, start, end: start + char.length };
}

function scanValue(text: string, file: string, start: number): Token {
  const char = text[start];
  if (char === undefined || char === '\n' || char === '#')
    return { kind: 'empty', value: '', start, end: start };
  if (char === '"') return scanQuoted(text, file, start);
  const end = matchEnd(BARE, text, start);
  if (end === start) return scanToken(text, start);
  return { kind: 'value', value: text.slice(start, end), start, end };
}

// A quoted value ends at the first '"' not preceded by a backslash; `\"` stands for '"' and every
// other backslash is literal. So a value cannot end in a backslash: see the tests.
function scanQuoted(text: string, file: string, start: number): Token {
  let close = text.indexOf('"', start + 1);
  while (close !== -1 && text[close - 1] === '\\') close = text.indexOf('"', close + 1);
  if (close === -1) throw createParseError(text, file, start, `unterminated quoted value: no closing '"'`);
  // oned's lexer takes the longest match, so `"abc"def` is one unquoted value, quotes included.
  const bareEnd = matchEnd(BARE, text, start);
  const token: Token =
    bareEnd > close + 1
      ? { kind: 'value', value: text.slice(start, bareEnd), start, end: bareEnd }
      : { kind: 'value', value: text.slice(start + 1, close).replaceAll('\\"', '"'), start, end: close + 1 };
  // oned wraps values in CDATA and aborts on a value holding the CDATA terminator.
  if (token.value.includes(']]>')) {
    throw createParseError(text, file, start, `a value must not contain ']]>' (oned rejects it)`);
  }
  return token;
}
