// The HostRunner for hypervisor hosts: one HostConnection per host for the whole process.
import { HostConnection } from './connection.js';
import type { ConnectionIo } from './connection.js';
import { requireSuccess } from './errors.js';
import { DEFAULT_KILL_AFTER_SECONDS, buildStepCommand } from './remote-command.js';
import type { CommandResult, HostRunner, RemoteStep } from './runner.js';
import { loadSshContext, resolveHostOptions } from './ssh-options.js';
import type { SshContext } from './ssh-options.js';
import { shellCommandOf, shellCommandText } from './virsh-shell.js';

export interface SshRunnerOptions {
  readonly context: SshContext;
  readonly killAfterSeconds?: number;
  readonly maxOutputBytes?: number;
  readonly io?: ConnectionIo;
}

// The local timeout fires this long after the host's own `timeout` should have ended the command, so that
// the host's answer (exit 124) normally wins and the local one only catches a host that stopped answering.
const LOCAL_GRACE_SECONDS = 2;

export class SshRunner implements HostRunner {
  private readonly options: SshRunnerOptions;
  private readonly pool = new Map<string, HostConnection>();

  constructor(options: SshRunnerOptions) {
    this.options = options;
  }

  // Runs the step on `host`; resolves when it exits with 0, rejects with CommandError/TransportError.
  async run(host: string, step: RemoteStep): Promise<CommandResult> {
    const timeoutSeconds = step.timeoutSeconds ?? this.options.context.settings.commandTimeoutSeconds;
    const connection = this.connection(host);
    const shellCommand = this.options.context.settings.virshShells > 0 ? shellCommandOf(step) : undefined;
    if (shellCommand !== undefined) {
      // No `timeout` runs in a shell: the local timer is the limit, and it kills the shell's virsh.
      const result = await connection.runInShell(shellCommand, {
        step: step.step,
        timeoutMs: timeoutSeconds * 1000,
        ...(step.signal ? { signal: step.signal } : {}),
        ...(step.requestedAt === undefined ? {} : { requestedAt: step.requestedAt }),
      });
      if (result !== undefined) return requireSuccess(result);
    }
    const command = buildStepCommand(step, this.stepDefaults());
    const killAfter = this.options.killAfterSeconds ?? DEFAULT_KILL_AFTER_SECONDS;
    const result = await connection.run(command, {
      step: step.step,
      timeoutMs: (timeoutSeconds + killAfter + LOCAL_GRACE_SECONDS) * 1000,
      ...(step.stdin === undefined ? {} : { stdin: step.stdin }),
      ...(step.signal ? { signal: step.signal } : {}),
      ...(step.requestedAt === undefined ? {} : { requestedAt: step.requestedAt }),
    });
    return requireSuccess(result);
  }

  // The exact command line a step is sent as (for logs): the line written to a virsh shell when the step
  // runs in one (or as its own process when no shell can be had), else the command line.
  commandLine(step: RemoteStep): string {
    const shellCommand = this.options.context.settings.virshShells > 0 ? shellCommandOf(step) : undefined;
    if (shellCommand !== undefined) return shellCommandText(shellCommand);
    return buildStepCommand(step, this.stepDefaults());
  }

  private stepDefaults(): { timeoutSeconds: number; killAfterSeconds?: number } {
    return {
      timeoutSeconds: this.options.context.settings.commandTimeoutSeconds,
      ...(this.options.killAfterSeconds === undefined
        ? {}
        : { killAfterSeconds: this.options.killAfterSeconds }),
    };
  }

  // The host's connection, created on first use (it connects lazily).
  connection(host: string): HostConnection {
    let connection = this.pool.get(host);
    if (!connection) {
      const { settings, config, local } = this.options.context;
      const options = {
        ...resolveHostOptions(host, settings, config, local),
        ...(this.options.maxOutputBytes === undefined ? {} : { maxOutputBytes: this.options.maxOutputBytes }),
      };
      connection = new HostConnection(options, this.options.io);
      this.pool.set(host, connection);
    }
    return connection;
  }

  // Closes every connection.
  async close(): Promise<void> {
    const connections = [...this.pool.values()];
    this.pool.clear();
    await Promise.all(connections.map((connection) => connection.close()));
  }
}

// An SshRunner configured from kvmrc values and the local ~/.ssh.
export function createSshRunner(
  kvmrc: Readonly<Record<string, string | undefined>>,
  env: Readonly<Record<string, string | undefined>> = process.env,
): SshRunner {
  return new SshRunner({ context: loadSshContext(kvmrc, env) });
}
