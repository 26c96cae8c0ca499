// HostConnection against a real OpenSSH sshd on 127.0.0.1 (the "host" is this machine).
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HostConnection } from '../../src/host/connection.js';
import type { HostConnectionOptions } from '../../src/host/connection.js';
import { CommandError, TransportError } from '../../src/host/errors.js';
import { buildRemoteCommand } from '../../src/host/remote-command.js';
import { freePort, sshdUnavailable, startSshd } from './sshd.js';
import type { TestSshd } from './sshd.js';
import { generateKey } from './ssh-keys.js';

const skip = sshdUnavailable();
let sshd: TestSshd;
let knownHosts: string;
const open: HostConnection[] = [];

beforeAll(async () => {
  if (skip) return;
  sshd = await startSshd();
  knownHosts = path.join(sshd.dir, 'known_hosts');
  writeFileSync(knownHosts, `[127.0.0.1]:${sshd.port} ${sshd.hostKey.publicLine}\n`);
});

afterAll(async () => {
  await Promise.all(open.map((c) => c.close()));
  if (!skip) await sshd.stop();
});

function connection(overrides: Partial<HostConnectionOptions> = {}): HostConnection {
  const c = new HostConnection({
    host: 'tb-h1',
    hostName: '127.0.0.1',
    port: sshd.port,
    user: sshd.user,
    identities: [{ path: sshd.clientKey.privateFile, origin: 'test' }],
    knownHostsFile: knownHosts,
    hostKeyPolicy: 'strict',
    connectTimeoutMs: 5000,
    maxChannels: 8,
    virshShells: 0,
    ...overrides,
  });
  open.push(c);
  return c;
}

function run(
  c: HostConnection,
  command: string,
  extra: { stdin?: string | Buffer | Readable; timeoutMs?: number; requestedAt?: number } = {},
) {
  return c.run(command, { step: 'test step', timeoutMs: 10_000, ...extra });
}

// One connection for the tests that do not care about its history (each handshake costs time).
let sharedConnection: HostConnection | undefined;
function shared(): HostConnection {
  sharedConnection ??= connection();
  return sharedConnection;
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

// Processes whose command line contains `marker` (the sshd "host" is this machine).
function processesWith(marker: string): string[] {
  try {
    return execFileSync('pgrep', ['-f', marker], { encoding: 'utf8' }).trim().split('\n');
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

async function until(check: () => boolean, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(50)) if (check()) return true;
  return check();
}

describe.skipIf(skip)('HostConnection on a real sshd', () => {
  it('runs a command and returns stdout, stderr and the exit code', async () => {
    const c = shared();
    const result = await run(c, "printf 'out\\n'; printf 'err\\n' >&2; exit 3");
    expect(result).toMatchObject({
      host: 'tb-h1',
      step: 'test step',
      exitCode: 3,
      signal: null,
      stdout: 'out\n',
    });
    expect(result.stderr).toMatch(/err\n$/);
    expect(result.stderr).not.toContain('onevmm-session-pid');
    expect(result.command).toBe("printf 'out\\n'; printf 'err\\n' >&2; exit 3");
    expect(result.durationMs).toBeGreaterThanOrEqual(0);
    expect((await run(c, 'true')).exitCode).toBe(0);
  });

  it('streams stdin to the command and closes it (1 MiB → sha256 on the host)', async () => {
    const c = shared();
    const data = randomBytes(1024 * 1024);
    const expected = createHash('sha256').update(data).digest('hex');
    expect((await run(c, 'sha256sum', { stdin: data })).stdout).toBe(`${expected}  -\n`);
    expect(
      (await run(c, 'sha256sum', { stdin: Readable.from([data.subarray(0, 1000), data.subarray(1000)]) }))
        .stdout,
    ).toBe(`${expected}  -\n`);
    // Without stdin the command sees end-of-file at once instead of waiting.
    expect((await run(c, 'wc -c')).stdout.trim()).toBe('0');
  });

  it('reuses one SSH connection for 20 parallel commands', async () => {
    const c = connection({ maxChannels: 8 });
    const results = await Promise.all(Array.from({ length: 20 }, () => run(c, 'echo "$SSH_CONNECTION"')));
    const clientPorts = new Set(results.map((r) => r.stdout.split(' ')[1]));
    expect(clientPorts.size).toBe(1);
    expect(c.connectionCount).toBe(1);
  });

  it('keeps at most maxChannels commands running at once', async () => {
    const c = connection({ maxChannels: 3 });
    const events = path.join(sshd.dir, 'channel-events');
    writeFileSync(events, '');
    const command = `echo "+ $(date +%s%N)" >> ${events}; sleep 0.3; echo "- $(date +%s%N)" >> ${events}`;
    await Promise.all(Array.from({ length: 10 }, () => run(c, command)));
    // Sweep the host-side start/end times: the most commands that were running at the same moment.
    const marks = readFileSync(events, 'utf8')
      .trim()
      .split('\n')
      .map((line) => ({ delta: line.startsWith('+') ? 1 : -1, at: BigInt(line.slice(2)) }))
      .sort((x, y) => (x.at === y.at ? x.delta - y.delta : x.at < y.at ? -1 : 1));
    let running = 0;
    let most = 0;
    for (const mark of marks) most = Math.max(most, (running += mark.delta));
    expect(marks).toHaveLength(20);
    expect(most).toBeLessThanOrEqual(3);
    expect(most).toBeGreaterThanOrEqual(2);
    expect(c.connectionCount).toBe(1);
  });

  it('reconnects after the server drops the connection', async () => {
    const c = connection();
    const first = (await run(c, 'echo "$SSH_CONNECTION"')).stdout;
    sshd.dropConnections();
    expect(await until(() => !c.connected, 3000)).toBe(true);
    const second = (await run(c, 'echo "$SSH_CONNECTION"')).stdout;
    expect(second.split(' ')[1]).not.toBe(first.split(' ')[1]);
    expect(c.connectionCount).toBe(2);
  });

  it('fails a running command with a TransportError when the connection drops under it', async () => {
    const c = connection();
    await run(c, 'true');
    const pending = run(c, 'sleep 5');
    await sleep(200);
    sshd.dropConnections();
    const error = await rejection(pending);
    expect(error).toBeInstanceOf(TransportError);
    expect(error).toMatchObject({ failure: 'lost', host: 'tb-h1', step: 'test step' });
    expect(error.message).toBe('connection to tb-h1 was lost while running test step');
    expect((await run(c, 'echo ok')).stdout).toBe('ok\n');
  });

  it('kills the command on the local timeout, leaving nothing running on the host', async () => {
    const c = shared();
    const marker = `30.${process.pid}1`;
    const error = await rejection(run(c, `sleep ${marker}`, { timeoutMs: 500 }));
    expect(error).toBeInstanceOf(CommandError);
    expect(error).toMatchObject({ reason: 'timeout', host: 'tb-h1', exitCode: null, timeoutMs: 500 });
    expect(error.message).toBe('test step timed out on tb-h1 after 0.5 s');
    expect(await until(() => processesWith(`sleep ${marker}`).length === 0, 3000)).toBe(true);
    expect((await run(c, 'echo still usable')).stdout).toBe('still usable\n');
  });

  it('is also bounded on the host by timeout --kill-after (exit 124)', async () => {
    const c = shared();
    const marker = `31.${process.pid}2`;
    const command = buildRemoteCommand({ argv: ['sleep', marker], timeoutSeconds: 0.3, killAfterSeconds: 1 });
    const result = await run(c, command, { timeoutMs: 10_000 });
    expect(result.exitCode).toBe(124);
    expect(processesWith(`sleep ${marker}`)).toEqual([]);
  });

  it('kills the command when the caller aborts', async () => {
    const c = shared();
    const marker = `32.${process.pid}3`;
    const controller = new AbortController();
    const pending = c.run(`sleep ${marker}`, {
      step: 'abortable',
      timeoutMs: 10_000,
      signal: controller.signal,
    });
    await until(() => processesWith(`sleep ${marker}`).length > 0, 3000);
    controller.abort();
    const error = await rejection(pending);
    expect(error).toMatchObject({ reason: 'cancelled', message: 'abortable cancelled on tb-h1' });
    expect(await until(() => processesWith(`sleep ${marker}`).length === 0, 3000)).toBe(true);
    // Already aborted: nothing is started.
    const again = await rejection(
      c.run('true', { step: 'late', timeoutMs: 1000, signal: controller.signal }),
    );
    expect(again).toMatchObject({ reason: 'cancelled' });
  });

  it('gives up waiting for a channel when the caller aborts', async () => {
    const c = connection({ maxChannels: 1 });
    const busy = run(c, 'sleep 1; echo done');
    const controller = new AbortController();
    const waiting = c.run('echo never', { step: 'queued', timeoutMs: 10_000, signal: controller.signal });
    await sleep(100);
    expect(c.load).toEqual({ running: 1, waiting: 1 });
    controller.abort();
    expect(await rejection(waiting)).toMatchObject({ reason: 'cancelled', step: 'queued' });
    expect(c.load.waiting).toBe(0);
    expect((await busy).stdout).toBe('done\n');
  });

  it('fails a command whose output passes the cap', async () => {
    const c = connection({ maxOutputBytes: 10_000 });
    const error = await rejection(run(c, 'head -c 100000 /dev/zero'));
    expect(error).toMatchObject({
      reason: 'output-limit',
      message: 'test step failed on tb-h1: stdout exceeded 10000 bytes',
    });
  });

  it('strict policy refuses an unknown host key with a clear message', async () => {
    const empty = path.join(sshd.dir, 'known_hosts.empty');
    writeFileSync(empty, '');
    const error = await rejection(run(connection({ knownHostsFile: empty }), 'true'));
    expect(error).toBeInstanceOf(TransportError);
    expect(error).toMatchObject({ failure: 'host-key', host: 'tb-h1', target: '127.0.0.1' });
    expect(error.message).toContain(`host key for tb-h1 (127.0.0.1:${sshd.port}) is not in ${empty}; add it`);
    expect(error.message).toContain('or set SSH_HOST_KEY_POLICY=accept-new');
  });

  it('accept-new writes an unknown key (file mode 600), then strict accepts it', async () => {
    const file = path.join(sshd.dir, 'new', 'known_hosts');
    const c = connection({ knownHostsFile: file, hostKeyPolicy: 'accept-new' });
    expect((await run(c, 'echo hi')).stdout).toBe('hi\n');
    expect(readFileSync(file, 'utf8')).toBe(`[127.0.0.1]:${sshd.port} ${sshd.hostKey.publicLine}\n`);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect((await run(connection({ knownHostsFile: file }), 'echo again')).stdout).toBe('again\n');
  });

  it('refuses a changed host key under strict and accept-new; off accepts it', async () => {
    const other = generateKey(sshd.dir, 'other_host_key');
    const file = path.join(sshd.dir, 'known_hosts.changed');
    writeFileSync(file, `[127.0.0.1]:${sshd.port} ${other.publicLine}\n`);
    for (const policy of ['strict', 'accept-new'] as const) {
      const error = await rejection(run(connection({ knownHostsFile: file, hostKeyPolicy: policy }), 'true'));
      expect(error).toMatchObject({ failure: 'host-key' });
      expect(error.message).toContain('does not match the key in');
    }
    expect(readFileSync(file, 'utf8')).toBe(`[127.0.0.1]:${sshd.port} ${other.publicLine}\n`);
    const off = connection({ knownHostsFile: file, hostKeyPolicy: 'off' });
    expect((await run(off, 'echo off')).stdout).toBe('off\n');
  });

  it('checks hashed known_hosts entries', async () => {
    const file = path.join(sshd.dir, 'known_hosts.hashed');
    writeFileSync(file, `[127.0.0.1]:${sshd.port} ${sshd.hostKey.publicLine}\n`);
    execFileSync('ssh-keygen', ['-H', '-f', file], { stdio: 'ignore' });
    expect(readFileSync(file, 'utf8')).toMatch(/^\|1\|/);
    expect((await run(connection({ knownHostsFile: file }), 'echo hashed')).stdout).toBe('hashed\n');
  });

  it('names the user and the keys tried when authentication fails', async () => {
    const stranger = generateKey(sshd.dir, 'stranger');
    const c = connection({ identities: [{ path: stranger.privateFile, origin: 'test' }] });
    const error = await rejection(run(c, 'true'));
    expect(error).toMatchObject({ failure: 'auth' });
    expect(error.message).toBe(
      `test step: authentication as ${sshd.user} on tb-h1 (127.0.0.1:${sshd.port}) failed (tried: ${stranger.privateFile})`,
    );
    const none = connection({ identities: [{ path: '/nonexistent/key', origin: 'kvmrc SSH_IDENTITY' }] });
    const missing = await rejection(run(none, 'true'));
    expect(missing.message).toBe(
      `test step: no usable identity to log in to tb-h1 (127.0.0.1:${sshd.port}) as ${sshd.user}: ` +
        '/nonexistent/key (kvmrc SSH_IDENTITY): cannot read it (ENOENT)',
    );
    // A failed connection is not kept: each command tries again.
    await rejection(run(none, 'true'));
    expect([none.connected, none.connectionCount]).toEqual([false, 2]);
  });

  it('fails at once a command requested before the last failed connect; a later one tries afresh', async () => {
    const port = await freePort();
    const c = connection({ port });
    const requestedAt = Date.now();
    const first = await rejection(run(c, 'true', { requestedAt }));
    const queued = await rejection(run(c, 'true', { requestedAt }));
    expect(queued).toBe(first);
    expect(c.connectionCount).toBe(1);
    await rejection(run(c, 'true', { requestedAt: Date.now() + 1 }));
    expect(c.connectionCount).toBe(2);
  });

  it('close() while the connection is being opened: the command fails as a transport error', async () => {
    const c = connection();
    const running = rejection(run(c, 'true'));
    // close() as soon as the connection is being opened (before ssh2 has its socket)
    while (!c.connected) await Promise.resolve();
    await c.close();
    const error = await running;
    expect(error).toBeInstanceOf(TransportError);
    expect(error.message).toMatch(/^test step: .*tb-h1 \(127\.0\.0\.1:\d+\)/);
    expect(c.connected).toBe(false);
    expect((await run(c, 'echo again')).stdout).toBe('again\n');
  });

  it('reports a refused connection as a TransportError naming the host', async () => {
    const port = await freePort();
    const error = await rejection(run(connection({ port }), 'true'));
    expect(error).toBeInstanceOf(TransportError);
    expect(error).toMatchObject({ failure: 'connect' });
    expect(error.message).toMatch(
      new RegExp(`^test step: cannot connect to tb-h1 \\(127\\.0\\.0\\.1:${port}\\): .*ECONNREFUSED`),
    );
  });
});
