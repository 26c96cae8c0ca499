// --dry-run: a runner that connects nowhere. It prints every host command exactly as it would be
// sent (and the stdin it would carry), and plays a plausible domain so the plan can be followed.
import { CommandError } from '../host/errors.js';
import { FakeRunner, type FakeCall, type FakeReply } from '../host/fake-runner.js';
import type { HostRunner } from '../host/runner.js';
import type { CliIo } from './io.js';

const FAKE_UUID = '00000000-0000-0000-0000-000000000000';

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

// `initiallyRunning`: whether the domain is assumed to run before the action (false for deploy/restore).
export function createDryRunRunner(
  io: CliIo,
  commandTimeoutSeconds: number,
  initiallyRunning: boolean,
): HostRunner {
  let running = initiallyRunning;
  const reply = (call: FakeCall): FakeReply => {
    io.stdout(`# ${call.step.step}, on ${call.host}:\n${call.command}\n`);
    if (call.step.stdin !== undefined) io.stdout(`# stdin:\n${call.step.stdin.toString()}\n`);
    const verb = call.step.argv[3] ?? call.step.argv[0];
    if (verb === 'domstate') return running ? { stdout: 'running\n' } : notFound(call);
    if (verb === 'create' || verb === 'restore') running = true;
    if (verb === 'destroy' || verb === 'shutdown') running = false;
    if (verb === 'domuuid') return { stdout: `${FAKE_UUID}\n` };
    if (verb === 'dumpxml') return { stdout: '<domain><features><acpi/></features></domain>\n' };
    if (verb === 'domstats') {
      // One domain asked (after `--`): a running one; the whole host: none.
      const asked = call.step.argv.includes('--') ? call.step.argv.at(-1) : undefined;
      return { stdout: asked === undefined ? '' : `Domain: '${asked}'\n  state.state=1\n  state.reason=1\n` };
    }
    if (verb === 'save-image-dumpxml') return { stdout: '<domain><name>dry-run</name></domain>\n' };
    return { stdout: '' };
  };
  return new FakeRunner({ commandTimeoutSeconds, fallback: reply });
}
