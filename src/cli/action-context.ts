// Builds what an action needs from the CLI's flags: settings, a runner (SSH, or --dry-run), a logger.
import { sleepFor, type ActionContext, type LogSeverity } from '../actions/context.js';
import { homedir } from 'node:os';
import type { HostRunner } from '../host/runner.js';
import { readSshSettings } from '../host/ssh-options.js';
import type { DryRunAssumptions } from './action-args.js';
import { createDryRunRunner } from './dry-run.js';
import type { CliIo } from './io.js';
import { loadKvmrc } from '../setup/load-kvmrc.js';

export interface ContextFlags {
  readonly kvmrc?: string | undefined;
  readonly dryRun?: boolean | undefined;
  readonly verbose?: boolean | undefined;
  // For --dry-run: the host the domain is taken to run on before the action (none: not running).
  readonly runningOn?: string | undefined;
  // For --dry-run: devices and snapshots the domain is taken to have.
  readonly assume?: DryRunAssumptions | undefined;
}

export interface CliActionContext {
  readonly ctx: ActionContext;
  readonly vars: Readonly<Record<string, string>>;
  close(): Promise<void>;
}

const SEVERITY_WORD: Record<LogSeverity, string> = { I: 'INFO', W: 'WARNING', E: 'ERROR', D: 'DEBUG' };

export async function createCliActionContext(
  flags: ContextFlags,
  io: CliIo,
  signal?: AbortSignal,
): Promise<CliActionContext> {
  const { vars, config } = await loadKvmrc(flags.kvmrc);
  let runner: HostRunner;
  let local: HostRunner;
  let close = async (): Promise<void> => {};
  if (flags.dryRun === true) {
    const shells = readSshSettings(vars, homedir()).virshShells > 0;
    runner = createDryRunRunner(io, config.commandTimeout, flags.runningOn, flags.assume, shells);
    local = runner;
  } else {
    // ssh2 is loaded only by commands that reach a host.
    const { createSshRunner } = await import('../host/ssh-runner.js');
    const { withRetries } = await import('../host/retrying-runner.js');
    const ssh = createSshRunner(vars);
    // VIRSH_RETRIES: transport failures (libvirtd restarting, a dropped connection) are retried.
    runner = withRetries(ssh, config.virshRetries);
    close = () => ssh.close();
    // execa (a quarter of a megabyte to compile) only for the actions that run something here.
    let localRunner: Promise<HostRunner> | undefined;
    local = {
      run: async (host, step) => {
        localRunner ??= import('../host/local-runner.js').then(
          ({ LocalRunner }) => new LocalRunner({ commandTimeoutSeconds: config.commandTimeout }),
        );
        return (await localRunner).run(host, step);
      },
    };
  }
  const ctx: ActionContext = {
    runner,
    local,
    config,
    log: (severity, message) => {
      // OpenNebula's convention: `INFO:`/`ERROR:` lines on stderr become LOG lines.
      if (severity !== 'D' || flags.verbose === true) io.stderr(`${SEVERITY_WORD[severity]}: ${message}`);
    },
    sleep: sleepFor,
    now: () => Date.now(),
    ...(signal === undefined ? {} : { signal }),
  };
  return { ctx, vars, close };
}
