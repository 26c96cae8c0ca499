import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { classifyError, classifyOutput, isRetryable } from '../../src/host/classify.js';
import type { FailureKind } from '../../src/host/classify.js';
import { CommandError, TransportError } from '../../src/host/errors.js';

// stderr as virsh prints it (exit code 1), from libvirt's qemu and test drivers.
const RECORDED: [string, FailureKind][] = [
  ["error: failed to get domain 'one-5'", 'not-found'],
  [
    "error: failed to get domain 'one-5'\nerror: Domain not found: no domain with matching name 'one-5'",
    'not-found',
  ],
  [
    "error: Domain not found: no domain with matching uuid '2b5bf0a1-6d7f-4f5e-9d1f-0c5b9c1f8a11'",
    'not-found',
  ],
  [
    "error: Failed to shutdown domain 'one-5'\nerror: Requested operation is not valid: domain is not running",
    'not-running',
  ],
  [
    "error: Failed to shutdown domain 'test'\nerror: internal error: domain 'test' not running",
    'not-running',
  ],
  ['error: operation failed: domain is no longer running', 'not-running'],
  [
    "error: failed to connect to the hypervisor\nerror: Failed to connect socket to '/var/run/libvirt/libvirt-sock': No such file or directory",
    'transport',
  ],
  [
    "error: failed to connect to the hypervisor\nerror: Failed to connect socket to '/var/run/libvirt/virtqemud-sock': Connection refused",
    'transport',
  ],
  [
    "error: Disconnected from qemu:///system due to end of file\nerror: Failed to destroy domain 'one-5'\nerror: End of file while reading data: Input/output error",
    'transport',
  ],
  ['error: Cannot recv data: Connection reset by peer', 'transport'],
  ['error: Cannot write data: Broken pipe', 'transport'],
  ['error: internal error: client socket is closed', 'transport'],
  ['error: internal error: connection closed due to keepalive timeout', 'transport'],
  [
    'error: failed to connect to the hypervisor\nerror: no connection driver available for qemu:///system',
    'transport',
  ],
  [
    'error: failed to connect to the hypervisor\nerror: Cannot recv data: ssh: connect to host 10.0.0.2 port 22: Connection refused: Connection reset by peer',
    'transport',
  ],
  // A disconnect followed by "failed to get domain" is a transport failure, not a gone domain.
  [
    "error: Disconnected from qemu:///system due to end of file\nerror: failed to get domain 'one-5'",
    'transport',
  ],
  // Refusals that a retry will not cure.
  [
    "error: failed to connect to the hypervisor\nerror: Failed to connect socket to '/var/run/libvirt/libvirt-sock': Permission denied",
    'other',
  ],
  [
    'error: failed to connect to the hypervisor\nerror: authentication failed: access denied by policy',
    'other',
  ],
  ['error: Cannot recv data: Host key verification failed.: Connection reset by peer', 'other'],
  [
    'error: Timed out during operation: cannot acquire state change lock (held by monitor=remoteDispatchDomainBlockJobAbort)',
    'timeout',
  ],
  ["error: Domain snapshot not found: no domain snapshot with matching name 'snap-1'", 'other'],
  ['error: Requested operation is not valid: domain is already running', 'other'],
  ['error: Domain is already active', 'other'],
  [
    'error: Failed to create domain from /var/lib/one//datastores/0/5/deployment.0\nerror: unsupported configuration: Unable to find any usable hugetlbfs mount',
    'other',
  ],
  // Shell startup noise before virsh's lines does not hide them.
  ["bash: pyenv: command not found\nerror: failed to get domain 'one-5'", 'not-found'],
  ['', 'other'],
];

describe('classifyOutput', () => {
  it.each(RECORDED)('%j → %s', (stderr, kind) => {
    expect(classifyOutput(stderr, 1)).toBe(kind);
  });

  it('treats the exit codes of timeout(1) as a timeout', () => {
    expect(classifyOutput('', 124)).toBe('timeout');
    expect(classifyOutput('', 137)).toBe('timeout');
    expect(classifyOutput('', 1)).toBe('other');
    expect(classifyOutput('error: failed to get domain', null)).toBe('not-found');
  });
});

// The same, from a virsh run here: the test driver, and connections that cannot succeed.
const hasVirsh = spawnSync('virsh', ['--version']).status === 0;
describe.runIf(hasVirsh)('classifyOutput on live virsh output', () => {
  it.each([
    [['-c', 'test:///default', 'dominfo', 'nosuch'], 'not-found'],
    [['-c', 'test:///default', 'domstate 999'], 'not-found'],
    [['-c', 'test:///default', 'destroy test; shutdown test'], 'not-running'],
    [['-c', 'test:///default', 'destroy test; destroy test'], 'not-running'],
    [['-c', 'test:///default', 'destroy test; suspend test'], 'not-running'],
    [['-c', 'test:///default', 'start test'], 'other'],
    [['-c', 'test:///default', 'snapshot-revert test nosnap'], 'other'],
    [['-c', 'test:///default', 'define /nonexistent.xml'], 'other'],
    [['-c', 'qemu+unix:///system?socket=/nonexistent/libvirt-sock', 'list'], 'transport'],
    [['-c', 'qemu+ssh://127.0.0.1:1/system', 'list'], 'transport'],
  ] as const)('virsh %j → %s', (args, kind) => {
    const out = spawnSync('virsh', [...args], { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } });
    expect(out.status).not.toBe(0);
    expect(classifyOutput(out.stderr, out.status)).toBe(kind);
  });
});

describe('classifyError', () => {
  const commandError = (reason: CommandError['reason'], stderr = '', exitCode: number | null = 1) =>
    new CommandError({
      host: 'h',
      step: 's',
      command: 'c',
      reason,
      exitCode,
      signal: null,
      stdout: '',
      stderr,
      durationMs: 1,
    });

  it('maps runner errors to kinds', () => {
    expect(classifyError(new TransportError({ host: 'h', failure: 'connect' }, 'x'))).toBe('transport');
    expect(classifyError(new TransportError({ host: 'h', failure: 'lost' }, 'x'))).toBe('transport');
    expect(classifyError(new TransportError({ host: 'h', failure: 'channel' }, 'x'))).toBe('transport');
    expect(classifyError(new TransportError({ host: 'h', failure: 'host-key' }, 'x'))).toBe('other');
    expect(classifyError(new TransportError({ host: 'h', failure: 'auth' }, 'x'))).toBe('other');
    expect(classifyError(commandError('timeout', '', null))).toBe('timeout');
    expect(classifyError(commandError('cancelled', '', null))).toBe('cancelled');
    expect(classifyError(commandError('exit', "error: failed to get domain 'x'"))).toBe('not-found');
    expect(classifyError(commandError('exit', 'error: Cannot recv data: Connection reset by peer'))).toBe(
      'transport',
    );
    expect(classifyError(commandError('output-limit', 'error: Cannot recv data', null))).toBe('other');
    expect(classifyError(new DOMException('aborted', 'AbortError'))).toBe('cancelled');
    expect(classifyError(new Error('boom'))).toBe('other');
    expect(classifyError('a string')).toBe('other');
  });

  it('retries only transport failures', () => {
    expect(isRetryable(new TransportError({ host: 'h', failure: 'lost' }, 'x'))).toBe(true);
    expect(
      isRetryable(commandError('exit', 'error: End of file while reading data: Input/output error')),
    ).toBe(true);
    expect(isRetryable(commandError('exit', "error: failed to get domain 'x'"))).toBe(false);
    expect(isRetryable(commandError('timeout', '', null))).toBe(false);
  });
});
