// --dry-run: a runner that connects nowhere. It prints every host command exactly as it would be
// sent (and the stdin it would carry), and plays a plausible domain so the plan can be followed.
import { CommandError } from '../host/errors.js';
import { FakeRunner, type FakeCall, type FakeReply } from '../host/fake-runner.js';
import type { HostRunner } from '../host/runner.js';
import { shellCommandOf, shellCommandText, shellStartCommand } from '../host/virsh-shell.js';
import type { DryRunAssumptions } from './action-args.js';
import type { CliIo } from './io.js';

const FAKE_UUID = '00000000-0000-0000-0000-000000000000';
const AGENT_PID = '{"return":{"pid":0}}\n';
const AGENT_EXITED = '{"return":{"exited":true,"exitcode":0}}\n';

function notFound(call: FakeCall): CommandError {
  return new CommandError({
    host: call.host,
    step: call.step.step,
    command: call.command,
    reason: 'exit',
    exitCode: 1,
    signal: null,
    stdout: '',
    stderr: "error: failed to get domain 'dry-run'\n",
    durationMs: 0,
  });
}

interface DryHost {
  running: boolean;
  readonly disks: Map<string, string>;
  readonly nics: Map<string, string>;
  readonly snapshots: string[];
}

// `runningOn`: the host the domain is assumed to run on before the action (none for deploy/restore).
export function createDryRunRunner(
  io: CliIo,
  commandTimeoutSeconds: number,
  runningOn: string | undefined,
  assume: DryRunAssumptions = {},
  // VIRSH_SHELLS > 0: short virsh commands on hosts are lines written to a shell (host/virsh-shell.ts).
  shells = false,
): HostRunner {
  const hosts = new Map<string, DryHost>();
  const hostState = (host: string): DryHost => {
    let state = hosts.get(host);
    if (state === undefined) {
      const here = host === runningOn;
      state = {
        running: here,
        disks: new Map(here ? (assume.disks ?? []).map((target) => [target, '/dry-run'] as const) : []),
        nics: new Map(here ? (assume.nics ?? []).map((mac) => [mac.toLowerCase(), 'bridge'] as const) : []),
        snapshots: here ? [...(assume.snapshots ?? [])] : [],
      };
      hosts.set(host, state);
    }
    return state;
  };
  const shellHosts = new Set<string>();
  const reply = (call: FakeCall): FakeReply => {
    const shellCommand = shells && call.host !== 'front-end' ? shellCommandOf(call.step) : undefined;
    const sent = shellCommand === undefined ? call.command : shellCommandText(shellCommand);
    if (shellCommand !== undefined && !shellHosts.has(call.host)) {
      shellHosts.add(call.host);
      io.stdout(
        `# a virsh shell on ${call.host}, kept open for short virsh commands:\n${shellStartCommand(shellCommand.uri)}\n`,
      );
    }
    io.stdout(`# ${call.step.step}, on ${call.host}:\n${sent}\n`);
    const stdin = call.step.stdin?.toString();
    if (stdin !== undefined) io.stdout(`# stdin:\n${stdin}\n`);
    const argv = call.step.argv;
    // migrate_local runs virsh here, connected to the source: the state is the source's.
    const connect = argv[0] === 'virsh' ? (argv[2] ?? '') : '';
    const remote = /^[a-z+]+:\/\/([^/]+)\/system$/.exec(connect)?.[1];
    const host = hostState(remote ?? call.host);
    const verb = argv[0] === 'virsh' ? argv[3] : argv[0];
    const after = argv.slice(argv.indexOf('--') + 1);
    switch (verb) {
      case 'domstate':
        return host.running ? { stdout: 'running\n' } : notFound(call);
      case 'create':
      case 'restore':
        host.running = true;
        break;
      case 'destroy':
      case 'shutdown':
        host.running = false;
        break;
      case 'migrate': {
        host.running = false;
        const destination = /:\/\/([^/]+)\//.exec(after.at(-1) ?? '')?.[1];
        if (destination !== undefined) hostState(destination).running = true;
        break;
      }
      case 'domuuid':
        return { stdout: `${FAKE_UUID}\n` };
      case 'dumpxml':
        return { stdout: '<domain><features><acpi/></features></domain>\n' };
      case 'domstats': {
        // One domain asked (after `--`): a running one; the whole host: none.
        const asked = argv.includes('--') ? argv.at(-1) : undefined;
        return {
          stdout: asked === undefined ? '' : `Domain: '${asked}'\n  state.state=1\n  state.reason=1\n`,
        };
      }
      case 'save-image-dumpxml':
        return { stdout: '<domain><name>dry-run</name></domain>\n' };
      case 'attach-device': {
        const target = /<target dev=["']([^"']+)/.exec(stdin ?? '')?.[1];
        const mac = /<mac address=["']([^"']+)/.exec(stdin ?? '')?.[1];
        if (target !== undefined) host.disks.set(target, 'dry-run');
        else if (mac !== undefined) host.nics.set(mac.toLowerCase(), 'bridge');
        break;
      }
      case 'detach-disk':
        host.disks.delete(after.at(-1) ?? '');
        break;
      case 'detach-interface':
        host.nics.delete((argv[argv.indexOf('--mac') + 1] ?? '').toLowerCase());
        break;
      case 'domblklist':
        return { stdout: table([...host.disks].map(([target, source]) => `${target} ${source}`)) };
      case 'domiflist':
        return { stdout: table([...host.nics].map(([mac, type]) => `vnet0 ${type} - virtio ${mac}`)) };
      case 'snapshot-create-as':
        host.snapshots.push(argv[argv.indexOf('--name') + 1] ?? '');
        break;
      case 'snapshot-list':
        return { stdout: host.snapshots.map((name) => `${name}\n`).join('') };
      case 'snapshot-delete':
        host.snapshots.splice(host.snapshots.indexOf(after.at(-1) ?? ''), 1);
        break;
      case 'domblkinfo':
        return { stdout: 'Capacity:       1048576\nAllocation:     0\nPhysical:       0\n' };
      case 'qemu-img':
        if (argv[1] === 'info') return { stdout: '{"virtual-size": 67108864, "format": "qcow2"}\n' };
        break;
      case 'qemu-agent-command': {
        // guest-exec answers a pid; guest-exec-status, a command that ended with 0
        const json = argv.at(-1) ?? '';
        return { stdout: json.includes('guest-exec-status') ? AGENT_EXITED : AGENT_PID };
      }
      case 'sh':
        if (argv.includes('qemu-agent-command') && argv[2]?.includes('.exec-lock') === true)
          return { stdout: argv[2].includes('guest-exec answered') ? AGENT_PID : '' };
        return { stdout: argv[2]?.includes('echo block') === true ? 'file\n' : '' };
    }
    return { stdout: '' };
  };
  return new FakeRunner({ commandTimeoutSeconds, fallback: reply });
}

// virsh's list layout: a header line and a rule, then one line per entry.
function table(lines: readonly string[]): string {
  return ['Header', '------', ...lines, ''].join('\n');
}
