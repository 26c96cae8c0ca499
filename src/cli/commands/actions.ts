// `onevmm deploy|shutdown|cancel|…|exec|exec-cancel`: the actions by hand,
// host first. They run the same code as remotes/vmm/kvm/<action>.
import type { Argv } from 'yargs';
import { executeAction } from '../execute-action.js';
import { readStdin, type CliIo } from '../io.js';
import { REMOTE_ACTIONS } from '../remote-actions.js';
import { CLI_ONLY_ACTIONS } from '../cli-only-actions.js';
import { readTextFile } from '../../setup/load-vm.js';
import { decodeStdinDocument } from '../../template/parse-action-data.js';
import { usage } from '../action-args.js';

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
  // Chooses the action from the arguments (snapshot create|revert|delete|list); default `action`.
  readonly pick?: (args: Args) => string;
  readonly positionals: readonly [string, string][];
  // Extra options: name → [type, description].
  readonly options?: Readonly<Record<string, readonly ['string' | 'boolean', string]>>;
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
  {
    command: 'migrate <vm>',
    describe: 'live-migrate a VM from one host to another (transactional: it never runs twice or nowhere)',
    action: 'migrate',
    pick: (args) => (args['local'] === true ? 'migrate_local' : 'migrate'),
    positionals: [['vm', 'the domain: one-<id>, a name or a UUID']],
    options: {
      from: ['string', 'the host the VM runs on (required)'],
      to: ['string', 'the destination host (required)'],
      local: ['boolean', 'run virsh migrate on this machine (migrate_local) instead of on the source host'],
      'copy-storage': ['boolean', 'copy the writable disks too (no shared storage): --copy-storage-all'],
      'vm-xml': ['string', 'the VM (oned XML or action data) for its FEATURES/MIGRATE_* flags'],
    },
    request: (args) => {
      const flags = new Map<string, string | true>();
      if (args['copyStorage'] === true) flags.set('--copy-storage', true);
      if (typeof args['vmXml'] === 'string') flags.set('--vm-xml', args['vmXml']);
      return Promise.resolve({
        request: {
          deploy_id: str(args, 'vm'),
          destination: str(args, 'to'),
          host: str(args, 'from'),
          vmid: '',
        },
        flags,
      });
    },
  },
  vmDocumentCommand(
    'attach-disk',
    'attach_disk',
    "hot-plug the VM's DISK with ATTACH=YES (from a template, <VM> or action XML)",
  ),
  vmDocumentCommand(
    'attach-nic',
    'attach_nic',
    "hot-plug the VM's NIC with ATTACH=YES (from a template, <VM> or action XML)",
  ),
  vmDocumentCommand(
    'resize',
    'resize',
    "set vCPUs and memory to the VM's VCPU and MEMORY (old values in RESIZE=[...])",
  ),
  {
    command: 'detach-disk <host> <vm> <target>',
    describe: 'hot-unplug a disk (done when libvirt no longer lists it)',
    action: 'detach_disk',
    positionals: [
      ['host', 'the hypervisor host'],
      ['vm', 'the domain'],
      ['target', 'the disk target, e.g. vdb'],
    ],
    request: (args) =>
      Promise.resolve({
        request: {
          host: str(args, 'host'),
          deploy_id: str(args, 'vm'),
          target: str(args, 'target'),
          vmid: '',
        },
      }),
  },
  {
    command: 'detach-nic <host> <vm> <mac>',
    describe: 'hot-unplug a NIC by its MAC (retried up to VIRSH_RETRIES times)',
    action: 'detach_nic',
    positionals: [
      ['host', 'the hypervisor host'],
      ['vm', 'the domain'],
      ['mac', 'the MAC address of the NIC'],
    ],
    request: (args) =>
      Promise.resolve({
        request: { host: str(args, 'host'), deploy_id: str(args, 'vm'), mac: str(args, 'mac'), vmid: '' },
      }),
  },
  {
    command: 'resize-disk <host> <vm> <target> <size-mb>',
    describe: 'grow a disk of a running VM (virsh blockresize)',
    action: 'resize_disk_target',
    positionals: [
      ['host', 'the hypervisor host'],
      ['vm', 'the domain'],
      ['target', 'the disk target, e.g. vda'],
      ['size-mb', 'the new size in MiB'],
    ],
    request: (args) =>
      Promise.resolve({
        request: {
          host: str(args, 'host'),
          deploy_id: str(args, 'vm'),
          target: str(args, 'target'),
          size: str(args, 'sizeMb'),
        },
      }),
  },
  {
    command: 'snapshot <op> <host> <vm> [snapshot]',
    describe: 'create (snapshot = the id: snap-<id>), revert to, delete or list snapshots',
    action: 'snapshot_create',
    pick: (args) => `snapshot_${str(args, 'op')}`,
    positionals: [
      ['op', 'create, revert, delete or list'],
      ['host', 'the hypervisor host'],
      ['vm', 'the domain'],
      ['snapshot', 'create: the snapshot id; revert/delete: the snapshot name (snap-<id>)'],
    ],
    request: (args) =>
      Promise.resolve({
        request: {
          host: str(args, 'host'),
          deploy_id: str(args, 'vm'),
          snapshot_id: str(args, 'snapshot'),
          name: str(args, 'snapshot'),
          vmid: '',
        },
      }),
  },
  {
    command: 'exec <host> <vm> <command>',
    describe:
      "run a command in the guest (QEMU guest agent); leaves the pid for OpenNebula's monitor, or --wait for the result",
    action: 'exec',
    positionals: [
      ['host', 'the hypervisor host'],
      ['vm', 'the VM: one-<id> or its id'],
      ['command', 'the command and its arguments, one word list as a shell would split it'],
    ],
    options: {
      'stdin-file': [
        'string',
        'a file to give the command as its standard input (--stdin-file=- : this stdin)',
      ],
      wait: ['boolean', 'wait for the command; print its stdout and stderr and exit with its exit code'],
    },
    request: async (args) => {
      const { vmid, domain } = guestVm(str(args, 'vm'));
      const file = str(args, 'stdinFile');
      const stdin = file === '' ? '' : (await readInputFile(file)).toString('base64');
      const flags = new Map<string, string | true>(args['wait'] === true ? [['--wait', true]] : []);
      return {
        request: { host: str(args, 'host'), deploy_id: domain, vmid, command: str(args, 'command'), stdin },
        flags,
      };
    },
  },
  {
    command: 'exec-cancel <host> <vm>',
    describe: 'kill the command exec started in the guest (kill -9 through the agent)',
    action: 'exec_cancel',
    positionals: [
      ['host', 'the hypervisor host'],
      ['vm', 'the VM: one-<id> or its id'],
    ],
    request: (args) => {
      const { vmid, domain } = guestVm(str(args, 'vm'));
      return Promise.resolve({ request: { host: str(args, 'host'), deploy_id: domain, vmid } });
    },
  },
];

// exec's VM: its pid file is named after the VM id, so the domain is one-<id>.
function guestVm(vm: string): { vmid: string; domain: string } {
  const id = /^(?:one-)?(\d+)$/.exec(vm)?.[1];
  if (id === undefined)
    usage(`exec: the VM must be one-<id> or <id> (its pid file is named after the id), got ${vm}`);
  return { vmid: id, domain: `one-${id}` };
}

async function readInputFile(file: string): Promise<Buffer> {
  return file === '-' ? readStdin() : (await import('node:fs/promises')).readFile(file);
}

// A command that reads the VM document (template, <VM> or action XML) from a file.
function vmDocumentCommand(command: string, action: string, describe: string): CommandSpec {
  return {
    command: `${command} <host> <vm> <document>`,
    describe,
    action,
    positionals: [
      ['host', 'the hypervisor host'],
      ['vm', 'the domain'],
      ['document', 'a template file, a <VM> document or VMM_DRIVER_ACTION_DATA'],
    ],
    request: (args) => {
      const flags = new Map<string, string | true>([['--vm-xml', str(args, 'document')]]);
      if (args.defaults !== undefined) flags.set('--defaults', args.defaults);
      return Promise.resolve({
        request: {
          host: str(args, 'host'),
          deploy_id: str(args, 'vm'),
          target: '',
          document: '-',
          vmid: str(args, 'vmId'),
        },
        flags,
      });
    },
  };
}

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
        for (const [name, [type, describe]] of Object.entries(spec.options ?? {}))
          built = built.option(name, { type, describe });
        if (spec.action === 'migrate') built = built.demandOption(['from', 'to']);
        if (spec.action === 'snapshot_create')
          built = built.positional('op', { choices: ['create', 'revert', 'delete', 'list'] });
        if (['deploy', 'restore', 'attach_disk', 'attach_nic', 'resize'].includes(spec.action))
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
  const name = spec.pick?.(args) ?? spec.action;
  const action = REMOTE_ACTIONS[name] ?? CLI_ONLY_ACTIONS[name];
  if (action === undefined) throw new Error(`no action ${name}`);
  const { request, stdin = '', flags = new Map<string, string | true>() } = await spec.request(args);
  return executeAction(name, action, request, { stdin, flags }, args, io);
}
