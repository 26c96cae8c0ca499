// Runs an action executable in-process with captured output (the CLI tests' common helper).
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
