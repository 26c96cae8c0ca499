// bin/one_vmm_exec: oned's VMM driver on stdin/stdout. oned closes fd 2, so nothing is written to
// stderr; every problem becomes a FAILURE reply or a `LOG E -1` line.
import { createInterface } from 'node:readline';
import { createSshRunner } from '../host/ssh-runner.js';
import { loadKvmrc } from '../setup/load-kvmrc.js';
import { createHandlerEnv } from '../setup/handler-env.js';
import { parseDriverArguments } from './arguments.js';
import { Driver } from './driver.js';
import { describeFailure } from '../util/errors.js';
import { formatLog, formatResult, parseRequest } from './protocol.js';
import { withRetries } from '../host/retrying-runner.js';
import { LocalRunner } from '../host/local-runner.js';

function writeLine(line: string): void {
  process.stdout.write(`${line}\n`);
}

// Runs the driver until FINALIZE (exit 0 once running actions replied) or EOF (exit at once).
export async function runDriver(argv: readonly string[]): Promise<void> {
  // A long-lived process: load every action now, so that rebuilding dist/ (an upgrade) while the
  // driver runs cannot leave it without a module.
  await Promise.all([
    import('../steps/run-steps.js'),
    import('../actions/deploy.js'),
    import('../actions/shutdown.js'),
    import('../actions/cancel.js'),
    import('../actions/simple.js'),
    import('../actions/save.js'),
    import('../actions/restore.js'),
    import('../actions/poll.js'),
    import('../actions/from-vm.js'),
    import('../actions/hotplug.js'),
    import('../actions/reconfigure.js'),
    import('../actions/snapshots.js'),
    import('../actions/pci-hotplug.js'),
    import('../actions/guest-exec.js'),
    import('../translate/translate-vm.js'),
  ]);
  process.stderr.on('error', () => undefined);
  process.stdout.on('error', () => process.exit(1));
  let driver: Driver | undefined;
  let setupError: string | undefined;
  try {
    const options = parseDriverArguments(argv);
    const { vars, config } = await loadKvmrc(undefined);
    const runner = createSshRunner(vars);
    driver = new Driver({
      options,
      config,
      runner: withRetries(runner, options.retries),
      local: new LocalRunner({ commandTimeoutSeconds: config.commandTimeout }),
      write: writeLine,
      env: createHandlerEnv({
        defaults: undefined,
        localActions: options.localActions,
        tmTimeoutSeconds: config.tmTimeout,
      }),
    });
  } catch (error) {
    setupError = describeFailure(error);
  }
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    if (driver === undefined) {
      // Without its configuration the driver can only say why: still one reply per request.
      const why = `one_vmm_exec cannot work: ${setupError ?? 'setup failed'}`;
      const request = parseRequest(line);
      if (request.kind === 'init') writeLine(`INIT FAILURE - ${setupError ?? 'setup failed'}`);
      else if (request.kind === 'finalize') break;
      else if (request.kind === 'action') writeLine(formatResult(request.action, false, request.vmid, why));
      else if (request.vmid !== undefined && request.action !== undefined)
        writeLine(formatResult(request.action, false, request.vmid, why));
      else writeLine(formatLog('E', '-1', why));
      continue;
    }
    let outcome: 'continue' | 'finalize';
    try {
      outcome = driver.handleLine(line);
    } catch (error) {
      writeLine(formatLog('E', '-1', `internal error on a line: ${describeFailure(error)}`));
      continue;
    }
    if (outcome === 'finalize') {
      await driver.finish();
      process.stdout.write('', () => process.exit(0));
      return;
    }
  }
  // EOF (or FINALIZE without a configuration): exit at once, as OpenNebula's driver does.
  process.stdout.write('', () => process.exit(0));
}
