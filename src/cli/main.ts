// `onevmm`: the by-hand CLI. One top-level handler turns every error into one stderr line and exit 1.
import yargs from 'yargs';
import { OnevmmError } from '../util/errors.js';
import { addActionCommands } from './commands/actions.js';
import { describeTranslate, runTranslate } from './commands/translate.js';
import { describeRequest, runRequest } from './commands/request.js';
import { processIo, type CliIo } from './io.js';

// Runs the CLI on argv (without node and script) and resolves to the exit code.
export async function runCli(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  let exitCode = 0;
  const parser = yargs([...argv])
    .scriptName('onevmm')
    .usage('$0 <command> [options]\n\nOpenNebula-compatible KVM driver: run VM actions by hand.')
    .command(
      'translate <input>',
      'print the libvirt domain XML for a VM (oned VM XML or a template file)',
      describeTranslate,
      async (args) => {
        exitCode = await runTranslate(args, io);
      },
    )
    .command(
      'request <action> <vmid> <payload>',
      "run one request of oned's protocol from its payload, with every TM, VNM, DS and VMM step the driver runs; prints the driver's reply",
      describeRequest,
      async (args) => {
        exitCode = await runRequest(args, io);
      },
    )
    .option('defaults', {
      type: 'string',
      describe: 'defaults file (default: etc/vmm_exec/vmm_exec_kvm.conf)',
    })
    .option('kvmrc', {
      type: 'string',
      describe: 'kvmrc file (default: $ONEVMM_KVMRC, else remotes/etc/vmm/kvm/kvmrc)',
    })
    .option('dry-run', {
      type: 'boolean',
      describe: 'print the exact host commands and XML; connect to nothing',
    })
    .option('json', { type: 'boolean', describe: 'print a machine-readable result' })
    .option('verbose', { alias: 'v', type: 'boolean', describe: 'print debug messages' });
  addActionCommands(parser, io, (code) => (exitCode = code))
    .demandCommand(1, 'name a command; see --help')
    .strict()
    .help()
    .version(false)
    .wrap(Math.min(110, process.stdout.columns || 80))
    .fail((message, error) => {
      throw error ?? new OnevmmError('USAGE', message);
    });
  try {
    await parser.parseAsync();
  } catch (error) {
    io.stderr(`onevmm: ${describeError(error)}`);
    return 1;
  }
  return exitCode;
}

function describeError(error: unknown): string {
  if (error instanceof OnevmmError) return error.message.split('\n')[0] ?? '';
  if (error instanceof Error) return `internal error: ${error.message}`;
  return `internal error: ${String(error)}`;
}
