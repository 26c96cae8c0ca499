// The CLI's only way to print: injected so tests can capture it.
export interface CliIo {
  // Writes text as is (the caller adds newlines).
  stdout(text: string): void;
  // Writes one line (a newline is added).
  stderr(line: string): void;
  // Rewrites one status line on a terminal ('' clears it); absent when stderr is not a TTY.
  readonly progress?: (text: string) => void;
}

// A status line is on the terminal: the next stderr line replaces it instead of joining it.
let statusShown = false;
const CLEAR_LINE = '\r\x1b[K';

export const processIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (line) => {
    process.stderr.write(`${statusShown ? CLEAR_LINE : ''}${line}\n`);
    statusShown = false;
  },
  ...(process.stderr.isTTY
    ? {
        progress: (text: string) => {
          process.stderr.write(`${CLEAR_LINE}${text}`);
          statusShown = text !== '';
        },
      }
    : {}),
};

// All of standard input, until it ends.
export async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
