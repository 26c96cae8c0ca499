// Renders a user-supplied value for a one-line message: quoted, control, line-break and bidi
// characters escaped, long values cut. Messages never carry a raw value (it may hold newlines
// or terminal escapes).
const MAX_SHOWN = 80;

const SPECIAL =
  /[\\'\p{Cc}\p{Zl}\p{Zp}\u0085\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069\uFEFF\uFFFE\uFFFF]|\p{Cs}/gu;

function escapeChar(char: string): string {
  if (char === '\\') return '\\\\';
  if (char === "'") return "\\'";
  if (char === '\n') return '\\n';
  if (char === '\t') return '\\t';
  if (char === '\r') return '\\r';
  return `\\u${(char.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
}

// Returns 'value' with \n, \t, \u001b… escaped; at most 80 characters of escaped text are shown.
export function showValue(value: string): string {
  let shown = '';
  for (const char of value) {
    const piece = char.replace(SPECIAL, escapeChar);
    if (shown.length + piece.length > MAX_SHOWN) {
      return `'${shown}…' (${[...value].length} characters)`;
    }
    shown += piece;
  }
  return `'${shown}'`;
}

// A name (domain, host) as is when it is plain, else quoted and escaped like showValue().
export function showName(name: string): string {
  return /^[\w.:@+-]+$/.test(name) ? name : showValue(name);
}
