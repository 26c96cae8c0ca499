// The action executables' arguments (OpenNebula's, reference §3.2, plus the appended `<vmid> <host>`)
// and how each maps onto an action.
// Each action's code is imported when it runs, so an executable loads only what it needs.
import type { ActionContext } from '../actions/context.js';
import { none, take, takeDomain, usage, type ActionOutput, type RemoteAction } from './action-args.js';
import { VM_ACTIONS } from './remote-actions-vm.js';

export type { ActionInput, ActionOutput, RemoteAction } from './action-args.js';

function domainAction(
  name: string,
  help: string,
  run: (ctx: ActionContext, host: string, domain: string) => Promise<ActionOutput>,
): RemoteAction {
  return {
    usage: '<deploy_id> [<host>] <vmid> <host>',
    help,
    readsStdin: false,
    createsDomain: false,
    parse: (positional) => takeDomain(positional, name),
    run: (ctx, request) => run(ctx, request['host'] ?? '', request['deploy_id'] ?? ''),
  };
}

export const REMOTE_ACTIONS: Readonly<Record<string, RemoteAction>> = {
  deploy: {
    usage: '<remote_deployment_file> <host> [<vmid> <host>]  (domain XML on stdin, raw or base64)',
    help:
      'Writes the domain XML to the deployment file on the host, creates the domain and prints its UUID.\n' +
      'With --template FILE or --vm-xml FILE (and --defaults FILE) the VM is translated first.\n' +
      'A domain that already runs under the same name is not created again: its UUID is printed.',
    readsStdin: true,
    createsDomain: true,
    parse: (positional) => ({
      ...take(['deployment_file', 'host'], positional, 'deploy'),
      vmid: positional[2] ?? '',
    }),
    async run(ctx, request, input) {
      let domainXml = input.stdin;
      const template = input.flags.get('--template') ?? input.flags.get('--vm-xml');
      if (typeof template === 'string') {
        const { translateFile } = await import('../setup/translate-file.js');
        const vmId = request['vmid'] ?? '';
        const defaults = input.flags.get('--defaults');
        domainXml = (
          await translateFile(template, {
            vmId,
            defaults: typeof defaults === 'string' ? defaults : undefined,
          })
        ).xml;
      }
      if (domainXml.trim() === '')
        usage('deploy: no domain XML on stdin (or use --template FILE / --vm-xml FILE)');
      const result = await (
        await import('../actions/deploy.js')
      ).deploy(ctx, {
        host: request['host'] ?? '',
        domainXml,
        deploymentFile: request['deployment_file'] ?? '',
      });
      return { output: result.uuid, json: { uuid: result.uuid, name: result.name, created: result.created } };
    },
  },
  shutdown: domainAction(
    'shutdown',

    'Powers the domain off with ACPI (re-sent every SHUTDOWN_RESEND s); destroys it after SHUTDOWN_TIMEOUT when FORCE_DESTROY=yes.',
    async (ctx, host, domain) => {
      const result = await (await import('../actions/shutdown.js')).shutdown(ctx, { host, domain });
      return none({ outcome: result.outcome, seconds: result.seconds });
    },
  ),
  cancel: domainAction(
    'cancel',

    'Destroys the domain; a domain that is already gone is a success.',
    async (ctx, host, domain) =>
      none({
        wasRunning: (await (await import('../actions/cancel.js')).cancel(ctx, { host, domain })).wasRunning,
      }),
  ),
  reboot: domainAction('reboot', 'Reboots the domain (ACPI).', async (ctx, host, domain) => {
    await (await import('../actions/simple.js')).reboot(ctx, { host, domain });
    return none();
  }),
  reset: domainAction('reset', 'Resets the domain (hardware reset).', async (ctx, host, domain) => {
    await (await import('../actions/simple.js')).reset(ctx, { host, domain });
    return none();
  }),
  cleanup: domainAction(
    'cleanup',
    'Makes sure the domain no longer runs on the host.',
    async (ctx, host, domain) => {
      await (await import('../actions/cleanup.js')).cleanup(ctx, { host, domain });
      return none();
    },
  ),
  save: {
    usage: '<deploy_id> <checkpoint_file> <host> [<vmid> <host>]',
    help: "Saves the domain's memory to the checkpoint file on the host (an older one is moved aside).",
    readsStdin: false,
    createsDomain: false,
    parse: (positional) => ({
      ...take(['deploy_id', 'checkpoint', 'host'], positional, 'save'),
      host: positional.at(-1) ?? '',
    }),
    async run(ctx, request) {
      await (
        await import('../actions/save.js')
      ).save(ctx, {
        host: request['host'] ?? '',
        domain: request['deploy_id'] ?? '',
        checkpointFile: request['checkpoint'] ?? '',
      });
      return none();
    },
  },
  restore: {
    usage: '<checkpoint_file> <host> <deploy_id> <vmid> <host>',
    help: 'Restores the domain from the checkpoint file; disk paths follow the directory of the checkpoint.',
    readsStdin: false,
    createsDomain: true,
    parse: (positional) => take(['checkpoint', 'host', 'deploy_id', 'vmid'], positional, 'restore'),
    async run(ctx, request) {
      const vmId = Number(request['vmid']);
      if (!Number.isInteger(vmId) || vmId < 0)
        usage(`restore: <vmid> must be a VM id, got '${request['vmid'] ?? ''}'`);
      await (
        await import('../actions/restore.js')
      ).restore(ctx, { host: request['host'] ?? '', checkpointFile: request['checkpoint'] ?? '', vmId });
      return none();
    },
  },
  poll: {
    usage: '<deploy_id> [<host>] <vmid> <host>   |   -t <host>  (every domain of the host)',
    help: 'Prints the poll line: STATE CPU MEMORY NETRX NETTX DISKRDBYTES DISKWRBYTES DISKRDIOPS DISKWRIOPS\n(or VM_POLL=YES and one VM=[…] per domain with -t). One virsh domstats call per host.',
    readsStdin: false,
    createsDomain: false,
    parse: (positional, flags) =>
      flags.has('-t') ? take(['host'], positional.slice(-1), 'poll -t') : takeDomain(positional, 'poll'),
    async run(ctx, request) {
      const samples = (await import('../setup/sample-cache.js')).createFileSampleStore();
      const result = await (
        await import('../actions/poll.js')
      ).poll(ctx, {
        host: request['host'] ?? '',
        ...(request['deploy_id'] === undefined ? {} : { domain: request['deploy_id'] }),
        samples,
      });
      samples.save();
      return { output: result.line, json: { line: result.line, domains: result.domains } };
    },
  },
  ...VM_ACTIONS,
};
