// The built driver as oned runs it: bin/one_vmm_exec with oned's ARGUMENTS as one argv element,
// requests on stdin, replies on stdout, fd 2 closed.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { utils } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { actionData, base64, ROOT } from './helpers.js';

const BIN = path.join(ROOT, 'bin/one_vmm_exec');
const BUNDLE = path.join(ROOT, 'dist/one_vmm_exec.mjs');
const ARGUMENTS = '-t 15 -r 0 kvm -p';

let dir: string;
let goodKvmrc: string;

beforeAll(() => {
  if (!existsSync(BUNDLE)) {
    const build = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, encoding: 'utf8' });
    if (build.status !== 0) throw new Error(`build failed: ${build.stderr}`);
  }
  dir = mkdtempSync(path.join(tmpdir(), 'onevmm-main-'));
  const knownHosts = path.join(dir, 'known_hosts');
  writeFileSync(knownHosts, '');
  // A key, so that the driver gets as far as connecting (and is refused) rather than stopping
  // for want of an identity.
  const identity = path.join(dir, 'id_ed25519');
  writeFileSync(identity, utils.generateKeyPairSync('ed25519').private, { mode: 0o600 });
  goodKvmrc = path.join(dir, 'kvmrc');
  writeFileSync(
    goodKvmrc,
    [
      '# test kvmrc: nothing listens on port 1 of 127.0.0.1',
      'export SSH_PORT=1',
      'export SSH_CONNECT_TIMEOUT=2',
      'export SSH_HOST_KEY_POLICY=strict',
      `export SSH_KNOWN_HOSTS=${knownHosts}`,
      `export SSH_IDENTITY=${identity}`,
      'export COMMAND_TIMEOUT=5',
      '',
    ].join('\n'),
  );
}, 60_000);

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

interface Run {
  readonly lines: string[];
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  // Milliseconds from the end of stdin (or the last write) to the exit.
  readonly exitAfterMs: number;
}

interface RunOptions {
  readonly kvmrc?: string;
  readonly args?: string;
  // Close stdin after the input (EOF); otherwise it stays open until the process exits.
  readonly eof?: boolean;
  // How fd 2 is given: closed as oned does, /dev/null, or a pipe (collected, must stay empty).
  readonly stderr?: 'closed' | 'ignore' | 'pipe';
  readonly timeoutMs?: number;
}

// Runs the driver, writes the input lines at once, and collects stdout until it exits.
function runDriver(input: readonly string[], options: RunOptions = {}): Promise<Run & { stderr: string }> {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env['PATH'],
    HOME: dir,
    ONEVMM_KVMRC: options.kvmrc ?? goodKvmrc,
  };
  const argv = [BIN, options.args ?? ARGUMENTS];
  const stderrMode = options.stderr ?? 'closed';
  const child: ChildProcess =
    stderrMode === 'closed'
      ? // oned closes fd 2 of the driver (reference §2.1): run it through sh with 2>&-.
        spawn('/bin/sh', ['-c', 'exec "$@" 2>&-', 'sh', process.execPath, ...argv], {
          env,
          stdio: ['pipe', 'pipe', 'ignore'],
        })
      : spawn(process.execPath, argv, { env, stdio: ['pipe', 'pipe', stderrMode] });
  const childStdin = child.stdin!;
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(`one_vmm_exec did not exit within ${options.timeoutMs ?? 15_000} ms; stdout:\n${stdout}`),
      );
    }, options.timeoutMs ?? 15_000);
    let inputDone = Date.now();
    let exitAfterMs = Number.NaN;
    child.on('error', reject);
    child.on('exit', () => (exitAfterMs = Date.now() - inputDone));
    // 'close' comes after 'exit' and after stdout has ended.
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ lines: stdout.split('\n').slice(0, -1), code, signal, exitAfterMs, stderr });
    });
    childStdin.on('error', () => undefined);
    childStdin.write(input.map((line) => `${line}\n`).join(''), () => {
      inputDone = Date.now();
      if (options.eof === true) childStdin.end();
    });
  });
}

const SHUTDOWN_LOCAL = `SHUTDOWN  42 ${base64(actionData({ host: '127.0.0.1', deployId: 'one-42' }))}`;

describe('bin/one_vmm_exec', () => {
  it('answers INIT, and exits 0 on FINALIZE', async () => {
    const run = await runDriver(['INIT', 'FINALIZE']);

    expect(run.lines).toEqual(['INIT SUCCESS - -']);
    expect(run.code).toBe(0);
  });

  it('answers a SHUTDOWN to a host that refuses the connection with exactly one FAILURE naming it, then exits 0 on FINALIZE after the reply', async () => {
    const run = await runDriver(['INIT', SHUTDOWN_LOCAL, 'FINALIZE']);

    expect(run.code).toBe(0);
    expect(run.lines[0]).toBe('INIT SUCCESS - -');
    const results = run.lines.filter((line) => !/^LOG [IEWD] /.test(line));
    expect(results).toHaveLength(2);
    expect(results[1]).toMatch(/^SHUTDOWN FAILURE 42 .*127\.0\.0\.1.*refused/i);
    expect(results[1]).not.toMatch(/ExitCode|ExitSSHCode/);
    for (const line of run.lines.slice(1, -1)) expect(line).toMatch(/^LOG [IEWD] (42|-1) /);
  });

  it('exits promptly on EOF on stdin', async () => {
    const run = await runDriver(['INIT'], { eof: true });

    expect(run.lines).toEqual(['INIT SUCCESS - -']);
    expect(run.exitAfterMs).toBeLessThan(2000);
    expect(run.signal).toBeNull();
  });

  it('exits promptly on EOF even with an action running (oned went away)', async () => {
    const hang = `REBOOT  43 ${base64(actionData({ host: '192.0.2.1', deployId: 'one-43' }))}`;

    const run = await runDriver(['INIT', hang], { eof: true, timeoutMs: 5000 });

    expect(run.lines[0]).toBe('INIT SUCCESS - -');
    expect(run.exitAfterMs).toBeLessThan(1500);
  });

  it('works with fd 2 given as /dev/null, and never writes to stderr', async () => {
    const ignored = await runDriver(['INIT', SHUTDOWN_LOCAL, 'FINALIZE'], { stderr: 'ignore' });
    const piped = await runDriver(['INIT', SHUTDOWN_LOCAL, 'bogus line', 'FINALIZE'], { stderr: 'pipe' });

    for (const run of [ignored, piped]) {
      expect(run.code).toBe(0);
      expect(run.lines.filter((line) => line.startsWith('SHUTDOWN FAILURE 42 '))).toHaveLength(1);
    }
    expect(piped.stderr).toBe('');
  });

  it('answers a broken kvmrc with "INIT FAILURE - <reason>" naming the file and line', async () => {
    const broken = path.join(dir, 'kvmrc-broken');
    writeFileSync(broken, 'export SSH_PORT=22\nexport LIBVIRT_URI=$(hostname)\n');

    const run = await runDriver(['INIT', 'FINALIZE'], { kvmrc: broken });

    expect(run.lines).toHaveLength(1);
    expect(run.lines[0]).toMatch(/^INIT FAILURE - \S/);
    expect(run.lines[0]).toContain(`${broken}:2:`);
    expect(run.lines[0]).toMatch(/\$\(/);
  });

  it('answers a missing kvmrc with "INIT FAILURE - <reason>"', async () => {
    const run = await runDriver(['INIT', 'FINALIZE'], { kvmrc: path.join(dir, 'no-such-kvmrc') });

    expect(run.lines).toEqual([
      `INIT FAILURE - ${path.join(dir, 'no-such-kvmrc')}: cannot read the kvmrc: no such file`,
    ]);
  });

  it('answers bad ARGUMENTS with "INIT FAILURE - <reason>"', async () => {
    const run = await runDriver(['INIT', 'FINALIZE'], { args: '-t 0 -r 0 kvm' });

    expect(run.lines).toEqual(["INIT FAILURE - one_vmm_exec: -t needs a whole number ≥ 1, got '0'"]);
  });

  // SPEC §2.1: every request that carries a vmid gets exactly one reply, whatever happens, so a
  // driver without its configuration still answers each request with a FAILURE for its VM.
  it('without its configuration, still answers each request with one FAILURE for its vmid', async () => {
    const run = await runDriver(['INIT', SHUTDOWN_LOCAL, 'FINALIZE'], {
      kvmrc: path.join(dir, 'no-such-kvmrc'),
    });

    expect(run.lines).toHaveLength(2);
    expect(run.lines[1]).toMatch(/^SHUTDOWN FAILURE 42 .*cannot read the kvmrc/);
  });
});
