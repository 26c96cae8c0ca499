// Entry of the remotes/vmm/kvm/<action> executables (bundled to dist/remote.mjs): OpenNebula's
// argument conventions, `<vmid> <host>` appended by the caller. stdout carries only the result;
// a failure is one line on stderr and exit 1. Kept free of yargs: per-action startup is a budget.
import { decodeStdinDocument } from '../template/parse-action-data.js';
import { OnevmmError } from '../util/errors.js';
import { executeAction } from './execute-action.js';
import { flagValueOf } from './flags.js';
import { processIo, readStdin, type CliIo } from './io.js';
import { REMOTE_ACTIONS, type RemoteAction } from './remote-actions.js';

interface Parsed {
  readonly positional: string[];
  readonly flags: Map<string, string | true>;
}

const VALUE_FLAGS = new Set(['--kvmrc', '--template', '--vm-xml', '--defaults']);

function parseArgv(argv: readonly string[]): Parsed {
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq < 0 ? arg : arg.slice(0, eq);
      if (eq >= 0) flags.set(name, arg.slice(eq + 1));
      else if (VALUE_FLAGS.has(name)) flags.set(name, argv[++i] ?? '');
      else flags.set(name, true);
    } else if (arg === '-t' || arg === '-h') {
      flags.set(arg, true);
    } else {
      positional.push(arg);
    }
  }
  return { positional, flags };
}

// The executables' stdin: nothing from a terminal.
async function readStdinText(): Promise<string> {
  return process.stdin.isTTY ? '' : (await readStdin()).toString('utf8');
}

// Runs one action executable; resolves to the exit code.
export async function runRemoteAction(
  name: string,
  argv: readonly string[],
  io: CliIo = processIo,
): Promise<number> {
  const action: RemoteAction | undefined = REMOTE_ACTIONS[name];
  if (action === undefined) {
    io.stderr(`onevmm: unknown action '${name}'`);
    return 1;
  }
  const { positional, flags } = parseArgv(argv);
  if (flags.has('--help') || flags.has('-h')) {
    io.stdout(
      `usage: ${name} ${action.usage}\n\n${action.help}\n\nOptions: --kvmrc FILE, --dry-run, --json, --help\n`,
    );
    return 0;
  }
  try {
    const request = action.parse(positional, flags);
    const stdin =
      action.readsStdin && !flags.has('--template') && !flags.has('--vm-xml') ? await readStdinText() : '';
    return await executeAction(
      name,
      action,
      request,
      { stdin: stdin.trim() === '' ? '' : decodeStdinDocument(stdin), flags },
      { kvmrc: flagValueOf(flags, '--kvmrc'), dryRun: flags.has('--dry-run'), json: flags.has('--json') },
      io,
    );
  } catch (error) {
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
    if (flags.has('--json')) io.stdout(`${JSON.stringify({ action: name, ok: false, error: message })}\n`);
    io.stderr(error instanceof OnevmmError ? (message ?? '') : `${name}: internal error: ${message ?? ''}`);
    return 1;
  }
}
