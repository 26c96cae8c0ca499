// `onevmm deploy|shutdown|cancel|reboot|reset|save|restore|poll|cleanup`: the actions by hand,
// host first. They run the same code as remotes/vmm/kvm/<action>.
import type { Argv } from 'yargs';
import { executeAction } from '../execute-action.js';
import type { CliIo } from '../io.js';
import { REMOTE_ACTIONS } from '../remote-actions.js';
import { readTextFile } from '../../setup/load-vm.js';
import { decodeStdinDocument } from '../../template/parse-action-data.js';

export interface GlobalFlags {
  readonly kvmrc?: string | undefined;
  readonly defaults?: string | undefined;
  readonly dryRun?: boolean | undefined;
  readonly json?: boolean | undefined;
  readonly verbose?: boolean | undefined;
}

type Args = GlobalFlags & Record<string, unknown>;

interface CommandSpec {
  readonly command: string;
  readonly describe: string;
  readonly action: string;
  readonly positionals: readonly [string, string][];
  // Builds the executable-style request and flags from the parsed arguments.
  readonly request: (
    args: Args,
  ) => Promise<{ request: Record<string, string>; stdin?: string; flags?: Map<string, string | true> }>;
}

// A parsed argument as text ('' when absent); yargs gives strings and numbers here.
const str = (args: Args, name: string): string => {
  const value = args[name];
  return typeof value === 'string' || typeof value === 'number' ? String(value) : '';
};

function domainCommand(action: string, describe: string): CommandSpec {
  return {
    command: `${action} <host> <vm>`,
    describe,
    action,
    positionals: [
      ['host', 'the hypervisor host (name or address)'],
      ['vm', 'the domain: one-<id>, a name or a UUID'],
    ],
    request: (args) =>
      Promise.resolve({ request: { host: str(args, 'host'), deploy_id: str(args, 'vm'), vmid: '' } }),
  };
}

export const ACTION_COMMANDS: readonly CommandSpec[] = [
  {
    command: 'deploy <host> <input>',
    describe: 'create a VM on a host from a template, oned VM XML or domain XML; prints its UUID',
    action: 'deploy',
    positionals: [
      ['host', 'the hypervisor host'],
      ['input', 'a template file, a <VM> document, or libvirt domain XML'],
    ],
    async request(args) {
      const input = str(args, 'input');
      const vmId = str(args, 'vmId');
      const text = await readTextFile(input, 'input');
      const isDomain = /^\s*(<\?xml[^>]*>\s*)?<domain[\s>]/.test(text);
      const flags = new Map<string, string | true>();
      if (!isDomain) flags.set('--template', input);
      if (args.defaults !== undefined) flags.set('--defaults', args.defaults);
      const file =
        args['deploymentFile'] === undefined
          ? `/var/tmp/onevmm/deployment-${vmId === '' ? 'vm' : vmId}.xml`
          : str(args, 'deploymentFile');
      return {
        request: { host: str(args, 'host'), deployment_file: file, vmid: vmId },
        flags,
        stdin: isDomain ? decodeStdinDocument(text) : '',
      };
    },
  },
  domainCommand(
    'shutdown',
    'power a VM off with ACPI; destroy it after SHUTDOWN_TIMEOUT when FORCE_DESTROY=yes',
  ),
  domainCommand('cancel', 'destroy a VM (a VM that is already gone is a success)'),
  domainCommand('reboot', 'reboot a VM (ACPI)'),
  domainCommand('reset', 'reset a VM (hardware reset)'),
  domainCommand('cleanup', 'make sure a VM no longer runs on a host'),
  {
    command: 'save <host> <vm> <checkpoint>',
    describe: "save a VM's memory to a checkpoint file on the host (the VM stops)",
    action: 'save',
    positionals: [
      ['host', 'the hypervisor host'],
      ['vm', 'the domain'],
      ['checkpoint', 'the checkpoint file on the host'],
    ],
    request: (args) =>
      Promise.resolve({
        request: { host: str(args, 'host'), deploy_id: str(args, 'vm'), checkpoint: str(args, 'checkpoint') },
      }),
  },
  {
    command: 'restore <host> <checkpoint>',
    describe: 'restore a VM from a checkpoint file on the host (needs --vm-id)',
    action: 'restore',
    positionals: [
      ['host', 'the hypervisor host'],
      ['checkpoint', 'the checkpoint file on the host'],
    ],
    request: (args) =>
      Promise.resolve({
        request: {
          host: str(args, 'host'),
          checkpoint: str(args, 'checkpoint'),
          deploy_id: '',
          vmid: str(args, 'vmId'),
        },
      }),
  },
  {
    command: 'poll <host> [vm]',
    describe: 'print the poll line of one VM, or of every VM of the host (one virsh domstats)',
    action: 'poll',
    positionals: [
      ['host', 'the hypervisor host'],
      ['vm', 'one domain (default: every domain of the host)'],
    ],
    request: (args) =>
      Promise.resolve({
        request: {
          host: str(args, 'host'),
          ...(args['vm'] === undefined ? {} : { deploy_id: str(args, 'vm') }),
        },
      }),
  },
];

// Registers the action commands on the parser.
export function addActionCommands(parser: Argv, io: CliIo, setExit: (code: number) => void): Argv {
  for (const spec of ACTION_COMMANDS) {
    parser.command(
      spec.command,
      spec.describe,
      (y) => {
        let built = y;
        for (const [name, describe] of spec.positionals)
          built = built.positional(name, { type: 'string', describe });
        if (spec.action === 'deploy' || spec.action === 'restore')
          built = built.option('vm-id', { type: 'number', describe: 'the VM id' });
        if (spec.action === 'deploy')
          built = built.option('deployment-file', {
            type: 'string',
            describe: 'where the domain XML is written on the host',
          });
        return built;
      },
      async (args) => setExit(await runActionCommand(spec, args as Args, io)),
    );
  }
  return parser;
}

async function runActionCommand(spec: CommandSpec, args: Args, io: CliIo): Promise<number> {
  const action = REMOTE_ACTIONS[spec.action];
  if (action === undefined) throw new Error(`no action ${spec.action}`);
  const { request, stdin = '', flags = new Map<string, string | true>() } = await spec.request(args);
  await executeAction(spec.action, action, request, { stdin, flags }, args, io);
  return 0;
}
