// oned's VMM protocol lines (reference §2.3, §2.5): requests in, result and LOG lines out.

export type Request =
  | { readonly kind: 'init' }
  | { readonly kind: 'finalize' }
  | { readonly kind: 'action'; readonly action: string; readonly vmid: string; readonly payload: string }
  // A line that cannot be read; `vmid` when one could be found (it then gets a FAILURE reply).
  | { readonly kind: 'bad'; readonly reason: string; readonly action?: string; readonly vmid?: string };

const ACTION_NAME = /^[A-Z][A-Z0-9_]*$/;

// Splits a request line on runs of whitespace (oned ≥6.0 writes two spaces after the action).
export function parseRequest(line: string): Request {
  const words = line
    .trim()
    .split(/\s+/)
    .filter((word) => word !== '');
  const [action, vmid, payload, ...rest] = words;
  if (action === undefined) return { kind: 'bad', reason: 'empty line' };
  if (action === 'INIT' && words.length === 1) return { kind: 'init' };
  if (action === 'FINALIZE' && words.length === 1) return { kind: 'finalize' };
  if (!ACTION_NAME.test(action)) return { kind: 'bad', reason: `not an action name: ${describe(action)}` };
  if (vmid === undefined) return { kind: 'bad', reason: `${action} without a VM id`, action };
  if (!/^-?\d+$/.test(vmid))
    return { kind: 'bad', reason: `${action}: not a VM id: ${describe(vmid)}`, action };
  if (rest.length > 0)
    return { kind: 'bad', reason: `${action}: ${words.length} fields, expected 3`, action, vmid };
  return { kind: 'action', action, vmid, payload: payload ?? '' };
}

function describe(word: string): string {
  const shown = word.length > 40 ? `${word.slice(0, 40)}…` : word;
  return `'${shown.replace(/[^\x20-\x7E]/g, '?')}'`;
}

// Makes text fit one protocol line: no line breaks or control characters, bounded length.
export function toOneLine(text: string, max = 2000): string {
  const flat = text
    .replace(/\s*[\r\n]+\s*/g, '; ')
    .replace(/[\p{Cc}\u2028\u2029]/gu, ' ')
    .trim();
  const bounded = flat.length > max ? `${flat.slice(0, max)}…` : flat;
  return bounded === '' ? '-' : bounded;
}

// `<ACTION> SUCCESS|FAILURE <vmid> <info>`.
export function formatResult(action: string, ok: boolean, vmid: string, info: string): string {
  return `${action} ${ok ? 'SUCCESS' : 'FAILURE'} ${vmid} ${toOneLine(info)}`;
}

// `LOG <I|E|W|D> <vmid|-1> <text>`.
export function formatLog(severity: 'I' | 'E' | 'W' | 'D', vmid: string, text: string): string {
  return `LOG ${severity} ${vmid} ${toOneLine(text)}`;
}
