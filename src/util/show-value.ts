// Renders a user-supplied value for a one-line message: quoted, control and line-break characters
// escaped, long values cut. Messages never carry a raw value (it may hold newlines or escapes).
const MAX_SHOWN = 80;

// Returns 'value' with \n, \t, \u001b… escaped and at most 80 characters of the value shown.
export function showValue(value: string): string {
  const chars = [...value];
  const cut = chars.length > MAX_SHOWN ? `${chars.slice(0, MAX_SHOWN).join('')}…` : value;
  const escaped = cut.replace(/[\\'\p{Cc}\p{Zl}\p{Zp}\u0085\uFEFF\uFFFE\uFFFF]|\p{Cs}/gu, (char) => {
    if (char === '\\') return '\\\\';
    if (char === "'") return "\\'";
    if (char === '\n') return '\\n';
    if (char === '\t') return '\\t';
    if (char === '\r') return '\\r';
    return `\\u${(char.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
  });
  const suffix = chars.length > MAX_SHOWN ? ` (${chars.length} characters)` : '';
  return `'${escaped}'${suffix}`;
}
