import { describe, expect, it } from 'vitest';
import { FakeRunner } from '../../src/host/fake-runner.js';
import { TransportError } from '../../src/host/errors.js';
import { withRetries } from '../../src/host/retrying-runner.js';

const step = { step: 'read domain state', argv: ['virsh', 'domstate', 'one-1'] };

describe('withRetries', () => {
  it('retries a transport failure (libvirtd restarting) and then succeeds', async () => {
    const fake = new FakeRunner().reply(
      'domstate',
      {
        exitCode: 1,
        stderr:
          "error: failed to connect to the hypervisor\nerror: Failed to connect socket to '/var/run/libvirt/libvirt-sock': No such file or directory\n",
      },
      { stdout: 'running\n' },
    );
    const result = await withRetries(fake, 3, 1).run('node1', step);
    expect(result.stdout).toBe('running\n');
    expect(fake.calls).toHaveLength(2);
  });

  it("never retries libvirt's own errors", async () => {
    const fake = new FakeRunner().reply('domstate', {
      exitCode: 1,
      stderr: "error: failed to get domain 'one-1'\n",
    });
    await expect(withRetries(fake, 3, 1).run('node1', step)).rejects.toThrow("failed to get domain 'one-1'");
    expect(fake.calls).toHaveLength(1);
  });

  it('does not retry a host that cannot be connected to (SSH_CONNECT_TIMEOUT bounds that)', async () => {
    const refused = new TransportError(
      { host: 'node1', failure: 'connect', step: step.step },
      'read domain state: cannot connect to node1',
    );
    const fake = new FakeRunner().reply('domstate', refused);
    await expect(withRetries(fake, 3, 1).run('node1', step)).rejects.toBe(refused);
    expect(fake.calls).toHaveLength(1);
  });

  it('gives up after the retries and keeps the last error', async () => {
    const fake = new FakeRunner().reply('domstate', {
      exitCode: 1,
      stderr: 'error: Cannot recv data: Connection reset by peer\n',
    });
    await expect(withRetries(fake, 2, 1).run('node1', step)).rejects.toThrow('Connection reset by peer');
    expect(fake.calls).toHaveLength(3);
  });
});
