import { describe, expect, it } from 'vitest';
import { cancel } from '../../src/actions/cancel.js';
import { deploy } from '../../src/actions/deploy.js';
import { restore } from '../../src/actions/restore.js';
import { shutdown } from '../../src/actions/shutdown.js';
import { createDryRunRunner } from '../../src/cli/dry-run.js';
import type { CliIo } from '../../src/cli/io.js';
import { classifyError } from '../../src/host/classify.js';
import { CommandError } from '../../src/host/errors.js';
import type { HostRunner } from '../../src/host/runner.js';
import { createTestContext } from '../actions/helpers.js';

const VIRSH = 'LC_ALL=C timeout --kill-after=5s 60s virsh --connect qemu:///system';

function capture(): CliIo & { text: () => string; errors: string[] } {
  let text = '';
  const errors: string[] = [];
  return {
    stdout: (chunk) => void (text += chunk),
    stderr: (line) => void errors.push(line),
    text: () => text,
    errors,
  };
}

function virsh(...args: string[]): { step: string; argv: string[] } {
  return { step: `virsh ${args[0] ?? ''}`, argv: ['virsh', '--connect', 'qemu:///system', ...args] };
}

async function stateOf(runner: HostRunner): Promise<string> {
  try {
    return (await runner.run('node1', virsh('domstate', 'one-5'))).stdout.trim();
  } catch (error) {
    return classifyError(error);
  }
}

describe('createDryRunRunner', () => {
  it('prints each command as it would be sent, under its step and host, with its stdin', async () => {
    const io = capture();
    const runner = createDryRunRunner(io, 60, 'node1');

    await runner.run('node1', virsh('reboot', 'one-5'));
    await runner.run('node2', {
      step: 'write file',
      argv: ['sh', '-c', 'cat > "$1"', 'sh', '/tmp/a b'],
      stdin: '<domain/>\n',
    });

    expect(io.text()).toBe(
      [
        '# virsh reboot, on node1:',
        `${VIRSH} reboot one-5`,
        '# write file, on node2:',
        `LC_ALL=C timeout --kill-after=5s 60s sh -c 'cat > "$1"' sh '/tmp/a b'`,
        '# stdin:',
        '<domain/>',
        '',
        '',
      ].join('\n'),
    );
    expect(io.errors).toEqual([]);
  });

  it('uses the command timeout it is given', async () => {
    const io = capture();

    await createDryRunRunner(io, 90, 'node1').run('node1', virsh('reset', 'one-5'));

    expect(io.text()).toContain(
      'LC_ALL=C timeout --kill-after=5s 90s virsh --connect qemu:///system reset one-5\n',
    );
  });

  it('plays a domain that starts absent: create and restore make it run, destroy and shutdown end it', async () => {
    const runner = createDryRunRunner(capture(), 60, undefined);

    expect(await stateOf(runner)).toBe('not-found');
    await runner.run('node1', virsh('create', '/var/lib/one//datastores/0/5/deployment.0'));
    expect(await stateOf(runner)).toBe('running');
    await runner.run('node1', virsh('destroy', 'one-5'));
    expect(await stateOf(runner)).toBe('not-found');
    await runner.run('node1', virsh('restore', '/var/lib/one//datastores/0/5/checkpoint'));
    expect(await stateOf(runner)).toBe('running');
    await runner.run('node1', virsh('shutdown', 'one-5'));
    expect(await stateOf(runner)).toBe('not-found');
  });

  it('answers "domain not found" with a CommandError the classifier reads as not-found', async () => {
    const runner = createDryRunRunner(capture(), 60, undefined);

    const error: unknown = await runner.run('node1', virsh('domstate', 'one-5')).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(CommandError);
    expect(classifyError(error)).toBe('not-found');
  });

  it('answers domuuid, dumpxml and save-image-dumpxml with plausible output', async () => {
    const runner = createDryRunRunner(capture(), 60, 'node1');

    expect((await runner.run('node1', virsh('domuuid', 'one-5'))).stdout).toBe(
      '00000000-0000-0000-0000-000000000000\n',
    );
    expect((await runner.run('node1', virsh('dumpxml', 'one-5'))).stdout).toContain('<acpi/>');
    expect((await runner.run('node1', virsh('save-image-dumpxml', '/c'))).stdout).toContain(
      '<name>dry-run</name>',
    );
    expect((await runner.run('node1', { step: 'rm', argv: ['rm', '-f', '--', '/c'] })).stdout).toBe('');
  });
});

describe('actions on the dry-run runner', () => {
  function contextWith(initiallyRunning: boolean, vars: Record<string, string> = {}) {
    const io = capture();
    const test = createTestContext(vars);
    const ctx = { ...test.ctx, runner: createDryRunRunner(io, 60, initiallyRunning ? 'node1' : undefined) };
    return { ctx, io, clock: test.clock };
  }

  it('deploy follows the whole plan and returns the fake UUID', async () => {
    const { ctx, io } = contextWith(false);

    const result = await deploy(ctx, {
      host: 'node1',
      domainXml: '<domain><name>one-5</name></domain>\n',
      deploymentFile: '/var/lib/one//datastores/0/5/deployment.0',
    });

    expect(result).toEqual({ uuid: '00000000-0000-0000-0000-000000000000', name: 'one-5', created: true });
    expect(
      io
        .text()
        .split('\n')
        .filter((line) => line.startsWith('# ') && line.endsWith(':')),
    ).toEqual([
      '# read domain state, on node1:',
      '# write deployment file, on node1:',
      '# stdin:',
      '# create domain, on node1:',
      '# read domain uuid, on node1:',
    ]);
  });

  it('shutdown ends at the first poll', async () => {
    const { ctx, io, clock } = contextWith(true);

    expect(await shutdown(ctx, { host: 'node1', domain: 'one-5' })).toEqual({
      outcome: 'powered-off',
      seconds: 0.2,
    });
    expect(clock.sleeps).toEqual([200]);
    expect(io.text()).toContain(`${VIRSH} shutdown -- one-5\n`);
  });

  it('shutdown with CANCEL_NO_ACPI=yes reads the XML, finds ACPI and uses it', async () => {
    const { ctx, io } = contextWith(true, { CANCEL_NO_ACPI: 'yes' });

    expect((await shutdown(ctx, { host: 'node1', domain: 'one-5' })).outcome).toBe('powered-off');
    expect(io.text()).toContain(`${VIRSH} dumpxml -- one-5\n`);
    expect(io.text()).not.toContain(' destroy ');
  });

  it('cancel destroys the running domain', async () => {
    const { ctx } = contextWith(true);

    expect(await cancel(ctx, { host: 'node1', domain: 'one-5' })).toEqual({ wasRunning: true });
  });

  it('restore writes the (relocated) XML and removes the checkpoint', async () => {
    const { ctx, io } = contextWith(false);

    await restore(ctx, { host: 'node1', checkpointFile: '/var/lib/one//datastores/0/5/checkpoint', vmId: 5 });

    expect(io.text()).toContain('# stdin:\n<domain>\n\t<name>dry-run</name>\n</domain>\n');
    expect(io.text()).toContain(
      'rm -f -- /var/lib/one//datastores/0/5/checkpoint /var/lib/one//datastores/0/5/checkpoint.xml\n',
    );
  });
});
