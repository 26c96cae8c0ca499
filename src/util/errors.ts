// The one error family of onevmm: every failure carries a stable `code` and a one-line message.

export type ErrorCode =
  | 'PARSE' // a file or payload could not be parsed (has file, line, column)
  | 'TRANSLATE' // a VM could not be turned into domain XML (names the attribute)
  | 'CONFIG' // a config value is missing or malformed
  | 'USAGE' // bad command-line arguments
  | 'VALIDATE' // a generated document was rejected by libvirt's schema
  | 'COMMAND' // a command on a host (or the front-end) failed
  | 'TRANSPORT' // a host could not be reached (ssh, host key, libvirtd socket)
  | 'TIMEOUT' // a command or an action ran past its time limit
  | 'CANCELLED' // the action was cancelled (DRIVER_CANCEL, Ctrl-C)
  | 'ACTION'; // an action could not do what it was asked (the domain is still running…)

export class OnevmmError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'OnevmmError';
    this.code = code;
  }
}

// One line for a FAILURE reply: the error's own message (it names host, step and libvirt's message).
export function describeFailure(error: unknown): string {
  if (error instanceof OnevmmError) return error.message;
  if (error instanceof Error) return `internal error: ${error.message}`;
  return `internal error: ${String(error)}`;
}

// Ends an action with an ACTION error: it could not do what it was asked (one line, for FAILURE).
export function failAction(message: string): never {
  throw new OnevmmError('ACTION', message);
}

// Where in a text a parse error happened; line and column are 1-based.
export interface SourcePosition {
  readonly file: string;
  readonly line: number;
  readonly column?: number;
}

export class ParseError extends OnevmmError {
  readonly position: SourcePosition;
  readonly reason: string;

  constructor(position: SourcePosition, reason: string) {
    super('PARSE', `${formatPosition(position)}: ${reason}`);
    this.name = 'ParseError';
    this.position = position;
    this.reason = reason;
  }
}

// Formats "file:line:column" (column omitted when unknown).
export function formatPosition(position: SourcePosition): string {
  const column = position.column === undefined ? '' : `:${position.column}`;
  return `${position.file}:${position.line}${column}`;
}

// Raised when a VM attribute cannot be translated; `attribute` is the template path (e.g. DISK[1]/TARGET).
export class TranslateError extends OnevmmError {
  readonly attribute: string;

  constructor(attribute: string, reason: string) {
    super('TRANSLATE', `${attribute}: ${reason}`);
    this.name = 'TranslateError';
    this.attribute = attribute;
  }
}
