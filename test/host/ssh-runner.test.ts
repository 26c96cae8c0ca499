// SshRunner against a real OpenSSH sshd on 127.0.0.1, reached through ~/.ssh/config-style aliases.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyError } from '../../src/host/classify.js';
import { CommandError, TransportError } from '../../src/host/errors.js';
import { runWithRetry } from '../../src/host/retry.js';
import { parseSshConfig } from '../../src/host/ssh-config.js';
import { readSshSettings } from '../../src/host/ssh-options.js';
import { SshRunner } from '../../src/host/ssh-runner.js';
import { sshdUnavailable, startSshd } from './sshd.js';
import type { TestSshd } from './sshd.js';

const skip = sshdUnavailable();
let sshd: TestSshd;
let runner: SshRunner;

beforeAll(async () => {
  if (skip) return;
  sshd = await startSshd();
  const knownHosts = path.join(sshd.dir, 'known_hosts');
  writeFileSync(knownHosts, `[127.0.0.1]:${sshd.port} ${sshd.hostKey.publicLine}\n`);
  const settings = readSshSettings(
    {
      SSH_USER: sshd.user,
      SSH_IDENTITY: sshd.clientKey.privateFile,
      SSH_KNOWN_HOSTS: knownHosts,
      COMMAND_TIMEOUT: '20',
    },
    sshd.dir,
  );
  const config = parseSshConfig(`Host tb-*\n  HostName 127.0.0.1\n  Port ${sshd.port}\n`, 'ssh_config');
  runner = new SshRunner({
    context: { settings, config, local: { home: sshd.dir, user: 'nobody', defaultIdentities: [] } },
  });
});

afterAll(async () => {
  if (skip) return;
  await runner.close();
  await sshd.stop();
});

describe.skipIf(skip)('SshRunner on a real sshd', () => {
  it('runs a step on a host alias, bounded and with LC_ALL=C, and returns its output', async () => {
    const result = await runner.run('tb-h1', {
      step: 'locale',
      argv: ['sh', '-c', 'echo "$LC_ALL $1"', 'sh', "it's"],
    });
    expect(result.stdout).toBe("C it's\n");
    expect(result.command).toBe(
      `LC_ALL=C timeout --kill-after=5s 20s sh -c 'echo "$LC_ALL $1"' sh 'it'\\''s'`,
    );
    expect(result.stderr).toBe('');
  });

  it('sends stdin and per-step environment', async () => {
    const result = await runner.run('tb-h1', {
      step: 'write',
      argv: ['sh', '-c', 'cat; echo " $X"'],
      stdin: '<domain/>',
      env: { X: 'y z' },
    });
    expect(result.stdout).toBe('<domain/> y z\n');
  });

  it("fails with libvirt's message, classified", async () => {
    const error = await runner
      .run('tb-h1', {
        step: 'dominfo one-7',
        argv: ['sh', '-c', `echo "error: failed to get domain 'one-7'" >&2; exit 1`],
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CommandError);
    expect((error as Error).message).toBe(
      "dominfo one-7 failed on tb-h1: exit code 1: error: failed to get domain 'one-7'",
    );
    expect(classifyError(error)).toBe('not-found');
  });

  it('is bounded on the host by the step timeout (exit 124 → timeout)', async () => {
    const error = await runner
      .run('tb-h1', { step: 'slow', argv: ['sleep', '5'], timeoutSeconds: 0.3 })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ reason: 'exit', exitCode: 124 });
    expect(classifyError(error)).toBe('timeout');
  });

  it('keeps one connection per host, shared by every step', async () => {
    await Promise.all(Array.from({ length: 6 }, () => runner.run('tb-h2', { step: 'true', argv: ['true'] })));
    await runner.run('tb-h3', { step: 'true', argv: ['true'] });
    expect(runner.connection('tb-h2').connectionCount).toBe(1);
    expect(runner.connection('tb-h3').connectionCount).toBe(1);
    expect(runner.connection('tb-h2')).toBe(runner.connection('tb-h2'));
    expect(runner.connection('tb-h2')).not.toBe(runner.connection('tb-h3'));
  });

  it('retries a transport failure until sshd is back', async () => {
    await runner.run('tb-h4', { step: 'true', argv: ['true'] });
    await sshd.pause();
    const refused = await runner.run('tb-h4', { step: 'true', argv: ['true'] }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(TransportError);
    expect(classifyError(refused)).toBe('transport');
    const back = setTimeout(() => void sshd.resume(), 300);
    const errors: unknown[] = [];
    const result = await runWithRetry(() => runner.run('tb-h4', { step: 'echo', argv: ['echo', 'back'] }), {
      retries: 8,
      backoffMs: 200,
      maxBackoffMs: 400,
      onRetry: ({ error }) => errors.push(error),
    });
    clearTimeout(back);
    expect(result.stdout).toBe('back\n');
    expect(errors.every((e) => classifyError(e) === 'transport')).toBe(true);
  });

  it('closes every connection; the next step opens a new one', async () => {
    await runner.run('tb-h5', { step: 'true', argv: ['true'] });
    const before = runner.connection('tb-h5');
    expect(before.connected).toBe(true);
    await runner.close();
    expect(before.connected).toBe(false);
    await runner.run('tb-h5', { step: 'true', argv: ['true'] });
    expect(runner.connection('tb-h5')).not.toBe(before);
    expect(runner.connection('tb-h5').connected).toBe(true);
  });
});
