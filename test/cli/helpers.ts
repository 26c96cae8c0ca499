// Runs an action executable in-process with captured output (the CLI tests' common helper).
import { runCli } from '../../src/cli/main.js';
import { runRemoteAction } from '../../src/cli/remote.js';

export interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string[];
}

export async function runExecutable(action: string, ...argv: string[]): Promise<Run> {
  let stdout = '';
  const stderr: string[] = [];
  const code = await runRemoteAction(action, argv, {
    stdout: (text) => (stdout += text),
    stderr: (line) => stderr.push(line),
  });
  return { code, stdout, stderr };
}

// Runs `onevmm <argv>` in-process with captured output.
export async function runOnevmm(...argv: string[]): Promise<Run> {
  let stdout = '';
  const stderr: string[] = [];
  const code = await runCli(argv, {
    stdout: (text) => (stdout += text),
    stderr: (line) => stderr.push(line),
  });
  return { code, stdout, stderr };
}
