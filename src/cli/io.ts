// The CLI's only way to print: injected so tests can capture it.
export interface CliIo {
  // Writes text as is (the caller adds newlines).
  stdout(text: string): void;
  // Writes one line (a newline is added).
  stderr(line: string): void;
}

export const processIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (line) => process.stderr.write(`${line}\n`),
};
