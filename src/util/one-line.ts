// Text made to fit one line of oned's protocol (a reply's info, a LOG line).

// Makes text fit one line: each line trimmed, control characters as spaces, lines joined
// with '; ', bounded length (never cutting a surrogate pair); '-' when nothing is left.
export function toOneLine(text: string, max = 2000): string {
  const flat = text
    .split(/[\r\n]+/)
    .map((line) => line.replace(/[\p{Cc}\u2028\u2029]/gu, ' ').trim())
    .filter((line) => line !== '')
    .join('; ');
  if (flat === '') return '-';
  if (flat.length <= max) return flat;
  const cut = /[\uD800-\uDBFF]/.test(flat.charAt(max - 1)) ? max - 1 : max;
  return `${flat.slice(0, cut)}…`;
}
