// oned's VMM protocol lines (reference §2.3, §2.5): requests in, result and LOG lines out.
import { toOneLine } from '../util/one-line.js';

export type Request =
  | { readonly kind: 'init' }
  | { readonly kind: 'finalize' }
  | { readonly kind: 'action'; readonly action: string; readonly vmid: string; readonly payload: string }
  // A line that cannot be read; `vmid` when one could be found (it then gets a FAILURE reply).
  | { readonly kind: 'bad'; readonly reason: string; readonly action?: string; readonly vmid?: string };

const ACTION_NAME = /^[A-Z][A-Z0-9_]{0,63}$/;
const VM_ID = /^-?\d+$/;

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
  if (!VM_ID.test(vmid)) return { kind: 'bad', reason: `${action}: not a VM id: ${describe(vmid)}`, action };
  if (rest.length > 0)
    return { kind: 'bad', reason: `${action}: ${words.length} fields, expected 3`, action, vmid };
  return { kind: 'action', action, vmid, payload: payload ?? '' };
}

// A word from a bad line, shown safely: non-printable characters as '?', at most 40 characters.
function describe(word: string): string {
  const printable = word.replace(/[^\x20-\x7E]/gu, '?');
  return `'${printable.length > 40 ? `${printable.slice(0, 40)}…` : printable}'`;
}

// `<ACTION> SUCCESS|FAILURE <vmid> <info>`.
export function formatResult(action: string, ok: boolean, vmid: string, info: string): string {
  return `${action} ${ok ? 'SUCCESS' : 'FAILURE'} ${vmid} ${toOneLine(info)}`;
}

// `LOG <I|E|W|D> <vmid|-1> <text>`.
export function formatLog(severity: 'I' | 'E' | 'W' | 'D', vmid: string, text: string): string {
  return `LOG ${severity} ${vmid} ${toOneLine(text)}`;
}
