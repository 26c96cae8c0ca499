// A minimal XML-RPC client for oned (the kit's front-end on 127.0.0.1), for the real-oned e2e
// suite. Written here because no maintained npm XML-RPC client fits a test helper (the usual
// `xmlrpc` package was last published in 2016); oned's calls need only strings, ints, booleans
// and a flat array back. Values go out escaped; the reply is read with fast-xml-parser.
import { XMLParser } from 'fast-xml-parser';

export type RpcValue = string | number | boolean;

export interface OneRpc {
  // Calls one.<method>(session, ...args); resolves to the result, rejects with oned's message.
  call(method: string, ...args: RpcValue[]): Promise<string | number | boolean>;
  // The same, for calls whose result is an id.
  callId(method: string, ...args: RpcValue[]): Promise<number>;
}

const escapeXml = (text: string): string =>
  text.replace(/[&<>]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;' })[c] ?? c);

function encode(value: RpcValue): string {
  if (typeof value === 'boolean') return `<boolean>${value ? 1 : 0}</boolean>`;
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new Error(`one-rpc: only integers are sent, got ${value}`);
    return `<int>${value}</int>`;
  }
  return `<string>${escapeXml(value)}</string>`;
}

const parser = new XMLParser({
  parseTagValue: false,
  trimValues: false,
  isArray: (name) => name === 'value',
});

interface ParsedValue {
  readonly string?: string;
  readonly boolean?: string;
  readonly i4?: string;
  readonly i8?: string;
  readonly int?: string;
  readonly '#text'?: string;
}

function decode(value: ParsedValue | string): string | number | boolean {
  if (typeof value === 'string') return value;
  if (value.boolean !== undefined) return value.boolean === '1';
  for (const key of ['i4', 'i8', 'int'] as const) if (value[key] !== undefined) return Number(value[key]);
  return value.string ?? value['#text'] ?? '';
}

export function createOneRpc(url: string, session: string): OneRpc {
  const call = async (method: string, ...args: RpcValue[]): Promise<string | number | boolean> => {
    const body =
      `<?xml version="1.0"?><methodCall><methodName>${escapeXml(method)}</methodName><params>` +
      [session, ...args].map((arg) => `<param><value>${encode(arg)}</value></param>`).join('') +
      '</params></methodCall>';
    const response = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'text/xml' }, body });
    if (!response.ok) throw new Error(`${method}: HTTP ${response.status}`);
    const parsed = parser.parse(await response.text()) as {
      methodResponse?: {
        params?: { param?: { value?: { array?: { data?: { value?: ParsedValue[] } } }[] } };
      };
    };
    const values = parsed.methodResponse?.params?.param?.value?.[0]?.array?.data?.value ?? [];
    const [ok, result] = values.map(decode);
    if (ok !== true)
      throw new Error(`${method}(${args.map((a) => JSON.stringify(a)).join(', ')}): ${String(result)}`);
    return result ?? '';
  };
  return {
    call,
    callId: async (method, ...args) => Number(await call(method, ...args)),
  };
}
