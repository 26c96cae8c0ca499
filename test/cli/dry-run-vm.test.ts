import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { runExecutable } from './helpers.js';

// No test here may reach a host: --dry-run must never build the SSH runner.
vi.mock('../../src/host/ssh-runner.js', () => ({
  createSshRunner: () => {
    throw new Error('dry-run-vm.test.ts: the SSH runner was created');
  },
}));

const KVMRC = path.join(import.meta.dirname, '../../remotes/etc/vmm/kvm/kvmrc');
const VM_XML = path.join(import.meta.dirname, '../fixtures/vm-xml/vm-42.xml');

beforeEach(() => {
  vi.stubEnv('ONEVMM_KVMRC', KVMRC);
  vi.stubEnv('ONEVMM_DEFAULTS', undefined);
});
afterEach(() => vi.unstubAllEnvs());

const run = runExecutable;

const VIRSH = 'LC_ALL=C timeout --kill-after=5s 60s virsh --connect qemu:///system';
const SHELL = 'virsh --connect qemu:///system shell>';
const START =
  'LC_ALL=C TERM=dumb COLUMNS=100000 INPUTRC=/dev/null exec timeout --kill-after=5s 900s virsh --connect qemu:///system';
// migrate reads the action XML from stdin unless --vm-xml names a file; a file keeps the test off
// the worker's stdin (which never ends).
const MIGRATE_ARGS = ['one-42', 'node2', 'node1', '42', 'node1', '--dry-run', '--vm-xml', VM_XML];

function lastLine(stdout: string): string {
  return stdout.trimEnd().split('\n').at(-1) ?? '';
}

describe('migrate --dry-run', () => {
  it('prints the plan, with virsh migrate on the source and the state read on both hosts, and exits 0', async () => {
    const result = await run('migrate', ...MIGRATE_ARGS);

    expect(result.code).toBe(0);
    expect(result.stderr).toEqual([]);
    expect(result.stdout).toBe(
      [
        '# a virsh shell on node1, kept open for short virsh commands:',
        START,
        '# read domain state, on node1:',
        `${SHELL} domstate -- one-42`,
        '# a virsh shell on node2, kept open for short virsh commands:',
        START,
        '# read domain state, on node2:',
        `${SHELL} domstate -- one-42`,
        '# list snapshots, on node1:',
        `${SHELL} snapshot-list --name --topological -- one-42`,
        '# migrate domain, on node1:',
        'LC_ALL=C timeout --kill-after=5s 930s virsh --connect qemu:///system migrate --live -- one-42 qemu+ssh://node2/system',
        '# read domain state, on node1:',
        `${SHELL} domstate -- one-42`,
        '# read domain state, on node2:',
        `${SHELL} domstate -- one-42`,
        '# sync guest time, on node2:',
        'LC_ALL=C timeout --kill-after=5s 5s virsh --connect qemu:///system domtime --sync -- one-42',
        '',
      ].join('\n'),
    );
  });

  it('--json ends with one JSON object naming the outcome, source and destination', async () => {
    const result = await run('migrate', ...MIGRATE_ARGS, '--json');

    expect(result.code).toBe(0);
    expect(JSON.parse(lastLine(result.stdout))).toEqual({
      action: 'migrate',
      ok: true,
      outcome: 'migrated',
      seconds: expect.any(Number) as number,
      snapshots: 0,
      source: 'node1',
      destination: 'node2',
    });
  });

  it('refuses a destination equal to the source with exit code 1 and no command printed', async () => {
    const result = await run(
      'migrate',
      'one-42',
      'node1',
      'node1',
      '42',
      'node1',
      '--dry-run',
      '--vm-xml',
      VM_XML,
    );

    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr.join('\n')).toContain('the destination is the source host; nothing was changed');
  });
});

describe('snapshot_create --dry-run', () => {
  it('prints the plan and the snapshot name snap-<id>', async () => {
    const result = await run('snapshot_create', 'one-5', '3', '5', 'node1', '--dry-run');

    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`${VIRSH} snapshot-create-as --name snap-3 -- one-5\n`);
    expect(lastLine(result.stdout)).toBe('snap-3');
  });

  it('--json prints {action, ok, name} as the last line', async () => {
    const result = await run('snapshot_create', 'one-5', '3', '5', 'node1', '--dry-run', '--json');

    expect(result.code).toBe(0);
    expect(JSON.parse(lastLine(result.stdout))).toEqual({
      action: 'snapshot_create',
      ok: true,
      name: 'snap-3',
    });
  });
});

describe('--dry-run of actions on an existing device or snapshot', () => {
  // The plan shows the command that would change the domain, not "nothing to detach".
  it.each([
    ['detach_disk', ['one-42', '/d', 'vdb', '1', '42', 'node1'], `${VIRSH} detach-disk --live -- one-42 vdb`],
    [
      'detach_nic',
      // its document keeps it off the worker's stdin, as MIGRATE_ARGS does
      ['one-42', '02:00:0a:00:00:01', '42', 'node1', '--vm-xml', VM_XML],
      `${VIRSH} detach-interface --live --type bridge --mac 02:00:0a:00:00:01 -- one-42`,
    ],
    [
      'snapshot_revert',
      ['one-42', 'snap-1', '42', 'node1'],
      `${VIRSH} snapshot-revert --force -- one-42 snap-1`,
    ],
    ['snapshot_delete', ['one-42', 'snap-1', '42', 'node1'], `${VIRSH} snapshot-delete -- one-42 snap-1`],
    [
      'prereconfigure',
      ['one-42', 'hdc', '42', 'node1'],
      `${VIRSH} change-media --eject --force -- one-42 hdc`,
    ],
  ])('%s shows the change it would make', async (action, argv, command) => {
    const result = await run(action, ...argv, '--dry-run');

    expect(result.code, result.stderr.join('\n')).toBe(0);
    expect(result.stdout.split('\n')).toContain(command);
  });
});
