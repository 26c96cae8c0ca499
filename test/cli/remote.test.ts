import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { REMOTE_ACTIONS } from '../../src/cli/remote-actions.js';
import { translateFile } from '../../src/setup/translate-file.js';
import { runExecutable } from './helpers.js';
import { WRITE_SCRIPT } from '../actions/helpers.js';

// No test here may reach a host: --dry-run must never build the SSH runner.
vi.mock('../../src/host/ssh-runner.js', () => ({
  createSshRunner: () => {
    throw new Error('remote.test.ts: the SSH runner was created');
  },
}));

const root = path.join(import.meta.dirname, '../..');
const KVMRC = path.join(root, 'remotes/etc/vmm/kvm/kvmrc');
const TEMPLATE = path.join(root, 'examples/web.tmpl');
const VIRSH = 'LC_ALL=C timeout --kill-after=5s 60s virsh --connect qemu:///system';
// Short virsh commands are lines written to a virsh shell kept open on the host (VIRSH_SHELLS).
const SHELL = 'virsh --connect qemu:///system shell>';
const shellOn = (host: string): string[] => [
  `# a virsh shell on ${host}, kept open for short virsh commands:`,
  'LC_ALL=C TERM=dumb COLUMNS=100000 INPUTRC=/dev/null exec timeout --kill-after=5s 900s virsh --connect qemu:///system',
];
const work = mkdtempSync(path.join(tmpdir(), 'onevmm-remote-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

beforeEach(() => {
  vi.stubEnv('ONEVMM_KVMRC', KVMRC);
  vi.stubEnv('ONEVMM_DEFAULTS', undefined);
  // The poll executable keeps CPU samples under $XDG_CACHE_HOME/onevmm.
  vi.stubEnv('XDG_CACHE_HOME', path.join(work, 'cache'));
});
afterEach(() => vi.unstubAllEnvs());

const run = runExecutable;

// The hosts named in --dry-run's "# <step>, on <host>:" lines.
function hostsOf(stdout: string): string[] {
  return [...stdout.matchAll(/^# .*, on (.*):$/gm)].map((match) => match[1] ?? '');
}

// The command lines printed by --dry-run.
function commandsOf(stdout: string): string[] {
  return stdout.split('\n').filter((line) => line.startsWith('LC_ALL=C '));
}

function lastLine(stdout: string): string {
  return stdout.trimEnd().split('\n').at(-1) ?? '';
}

const ACTIONS = Object.keys(REMOTE_ACTIONS);

describe('runRemoteAction --help', () => {
  it('knows the actions of the shipped executables', () => {
    expect(ACTIONS.sort()).toEqual([
      'attach_disk',
      'attach_nic',
      'cancel',
      'cleanup',
      'deploy',
      'detach_disk',
      'detach_nic',
      'exec',
      'exec_cancel',
      'migrate',
      'migrate_local',
      'poll',
      'prereconfigure',
      'reboot',
      'reconfigure',
      'reset',
      'resize',
      'resize_disk',
      'restore',
      'save',
      'shutdown',
      'snapshot_create',
      'snapshot_delete',
      'snapshot_revert',
    ]);
  });

  it.each(ACTIONS)('%s --help prints its usage and help on stdout', async (name) => {
    const action = REMOTE_ACTIONS[name]!;

    for (const flag of ['--help', '-h']) {
      const result = await run(name, flag);

      expect(result).toEqual({
        code: 0,
        stdout: `usage: ${name} ${action.usage}\n\n${action.help}\n\nOptions: --kvmrc FILE, --dry-run, --json, --help\n`,
        stderr: [],
      });
    }
  });

  it('shows help even after other arguments', async () => {
    const result = await run('shutdown', 'one-5', 'node1', '--help');

    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^usage: shutdown /);
  });
});

describe('runRemoteAction errors', () => {
  it.each(ACTIONS)('%s without arguments: exit 1, one line on stderr, nothing on stdout', async (name) => {
    const result = await run(name);

    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toHaveLength(1);
    expect(result.stderr[0]).toMatch(/expected <.*>, got 0 argument\(s\); see --help$/);
  });

  // BUG: the domain actions (shutdown, cancel, reboot, reset, cleanup) say "action: expected …"
  // instead of their own name: remote-actions.ts domainAction() passes 'action' to take().
  it.each(ACTIONS)('%s without arguments names itself in the message', async (name) => {
    const result = await run(name);

    expect(result.stderr[0]).toMatch(new RegExp(`^${name}: expected `));
  });

  it('refuses an unknown action', async () => {
    expect(await run('frobnicate', 'one-5', '5', 'node1')).toEqual({
      code: 1,
      stdout: '',
      stderr: ["onevmm: unknown action 'frobnicate'"],
    });
  });

  it('reports a kvmrc that cannot be read in one line', async () => {
    const missing = path.join(work, 'no-such-kvmrc');
    const result = await run('cancel', 'one-5', '5', 'node1', '--dry-run', '--kvmrc', missing);

    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr: [`${missing}: cannot read the kvmrc: no such file`],
    });
  });

  it('reports a bad kvmrc value in one line naming the variable', async () => {
    const kvmrc = path.join(work, 'bad-kvmrc');
    writeFileSync(kvmrc, 'export FORCE_DESTROY=maybe\n');

    const result = await run('cancel', 'one-5', '5', 'node1', '--dry-run', '--kvmrc', kvmrc);

    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr: ["kvmrc: FORCE_DESTROY must be yes or no, got 'maybe'"],
    });
  });
});

describe('runRemoteAction --dry-run', () => {
  it('is needed to stay off the hosts: without it the SSH runner is built (the guard above works)', async () => {
    const result = await run('cancel', 'one-5', '5', 'node1');

    expect(result.code).toBe(1);
    expect(result.stderr).toEqual(['cancel: internal error: remote.test.ts: the SSH runner was created']);
  });

  it('deploy --template prints the exact commands and the XML, and the fake UUID', async () => {
    const file = '/var/lib/one//datastores/0/42/deployment.0';
    const { xml } = await translateFile(TEMPLATE, { vmId: '42' });

    const result = await run('deploy', file, 'node1', '42', 'node1', '--dry-run', '--template', TEMPLATE);

    expect(result.code).toBe(0);
    expect(result.stderr).toEqual([]);
    expect(xml).toContain('<name>one-42</name>');
    expect(result.stdout).toBe(
      [
        ...shellOn('node1'),
        '# read domain state, on node1:',
        `${SHELL} domstate -- one-42`,
        '# write deployment file, on node1:',
        `LC_ALL=C timeout --kill-after=5s 60s sh -c '${WRITE_SCRIPT}' sh /var/lib/one//datastores/0/42 ${file} ${Buffer.byteLength(xml)}`,
        '# stdin:',
        `${xml}`,
        '# create domain, on node1:',
        `${SHELL} create -- ${file}`,
        '# read domain uuid, on node1:',
        `${SHELL} domuuid -- one-42`,
        '00000000-0000-0000-0000-000000000000',
        '',
      ].join('\n'),
    );
  });

  it('deploy reads kvmrc from ONEVMM_KVMRC, and --kvmrc beats it', async () => {
    const fromEnv = path.join(work, 'env-kvmrc');
    const fromFlag = path.join(work, 'flag-kvmrc');
    writeFileSync(fromEnv, 'export LIBVIRT_URI=qemu+tcp://env/system\nexport COMMAND_TIMEOUT=90\n');
    writeFileSync(fromFlag, 'export LIBVIRT_URI=qemu+tcp://flag/system\n');
    vi.stubEnv('ONEVMM_KVMRC', fromEnv);
    const args = [
      '/var/lib/one//datastores/0/42/deployment.0',
      'node1',
      '42',
      'node1',
      '--dry-run',
      '--template',
      TEMPLATE,
    ];

    const env = await run('deploy', ...args);
    const flag = await run('deploy', ...args, '--kvmrc', fromFlag);

    expect(env.stdout).toContain('virsh --connect qemu+tcp://env/system shell> domstate -- one-42\n');
    expect(commandsOf(env.stdout)[1]).toMatch(/^LC_ALL=C timeout --kill-after=5s 90s sh -c /);
    expect(flag.stdout).toContain('virsh --connect qemu+tcp://flag/system shell> domstate -- one-42\n');
    expect(commandsOf(flag.stdout)[1]).toMatch(/^LC_ALL=C timeout --kill-after=5s 60s sh -c /);
  });

  it('shutdown prints domstate, shutdown, domstate and nothing else on stdout', async () => {
    const result = await run('shutdown', 'one-5', '5', 'node1', '--dry-run');

    expect(result).toEqual({
      code: 0,
      stdout: [
        ...shellOn('node1'),
        '# read domain state, on node1:',
        `${SHELL} domstate -- one-5`,
        '# send ACPI shutdown, on node1:',
        `${SHELL} shutdown -- one-5`,
        '# read domain state, on node1:',
        `${SHELL} domstate -- one-5`,
        '',
      ].join('\n'),
      stderr: [],
    });
  });

  it('save, restore and deploy take the host from OpenNebula’s argument lists', async () => {
    const checkpoint = '/var/lib/one//datastores/0/7/checkpoint';

    const saved = await run('save', 'one-7', checkpoint, 'node1', '7', 'node1', '--dry-run');
    const restored = await run('restore', checkpoint, 'node1', 'one-7', '7', 'node1', '--dry-run');

    expect(saved.code).toBe(0);
    expect(hostsOf(saved.stdout)).toEqual(['node1', 'node1']);
    expect(commandsOf(saved.stdout)[1]).toBe(
      `${VIRSH.replace(' 60s ', ' 900s ')} save -- one-7 ${checkpoint}`,
    );
    expect(restored.code).toBe(0);
    expect(hostsOf(restored.stdout)).toEqual(['node1', 'node1', 'node1', 'node1', 'node1']);
    expect(commandsOf(restored.stdout)[2]).toBe(
      `${VIRSH.replace(' 60s ', ' 900s ')} restore --xml ${checkpoint}.xml -- ${checkpoint}`,
    );
  });

  // BUG: OpenNebula runs these as `<action> <deploy_id> <host> <vmid> <host>` (one_vmm_exec.rb:
  // :parameters => [:deploy_id, :host], then `<vmid> <host>` appended; reference §2.7–2.8), but
  // domainAction() and poll read positional[1] as the vmid and positional[2] as the host, so every
  // command goes to host "5".
  it.each(['shutdown', 'cancel', 'reboot', 'reset', 'poll'])(
    '%s one-5 node1 5 node1 (OpenNebula’s arguments) runs on node1',
    async (name) => {
      const result = await run(name, 'one-5', 'node1', '5', 'node1', '--dry-run');

      expect(result.code).toBe(0);
      expect(hostsOf(result.stdout).length).toBeGreaterThan(0);
      expect(new Set(hostsOf(result.stdout))).toEqual(new Set(['node1']));
    },
  );

  it('poll -t asks one domstats for the whole host', async () => {
    const result = await run('poll', '-t', 'node1', '--dry-run');

    expect(result).toEqual({
      code: 0,
      stdout: [
        ...shellOn('node1'),
        '# read domain statistics, on node1:',
        `${SHELL} domstats --state --cpu-total --balloon --interface --block --nowait`,
        'VM_POLL=YES',
        '',
      ].join('\n'),
      stderr: [],
    });
  });
});

describe('runRemoteAction --json', () => {
  it('prints one JSON object with ok: true and the action’s result', async () => {
    const cancelled = await run('cancel', 'one-5', '5', 'node1', '--dry-run', '--json');
    const deployed = await run(
      'deploy',
      '/var/lib/one//datastores/0/42/deployment.0',
      'node1',
      '42',
      'node1',
      '--dry-run',
      '--json',
      '--template',
      TEMPLATE,
    );
    const shut = await run('shutdown', 'one-5', '5', 'node1', '--dry-run', '--json');

    expect(cancelled.code).toBe(0);
    expect(JSON.parse(lastLine(cancelled.stdout))).toEqual({ action: 'cancel', ok: true, wasRunning: true });
    expect(JSON.parse(lastLine(deployed.stdout))).toEqual({
      action: 'deploy',
      ok: true,
      uuid: '00000000-0000-0000-0000-000000000000',
      name: 'one-42',
      created: true,
    });
    // The UUID is in the JSON only, not printed a second time.
    expect(deployed.stdout.match(/00000000-0000-0000-0000-000000000000/g)).toHaveLength(1);
    expect(JSON.parse(lastLine(shut.stdout))).toEqual({
      action: 'shutdown',
      ok: true,
      outcome: 'powered-off',
      seconds: expect.any(Number) as number,
    });
  });

  it('prints ok: false and the error on stdout, and the same line on stderr', async () => {
    const result = await run(
      'restore',
      '/var/lib/one//datastores/0/7/checkpoint',
      'node1',
      'one-7',
      'x',
      'node1',
      '--dry-run',
      '--json',
    );
    const message = "restore: <vmid> must be a VM id, got 'x'";

    expect(result.code).toBe(1);
    expect(result.stdout).toBe(`${JSON.stringify({ action: 'restore', ok: false, error: message })}\n`);
    expect(result.stderr).toEqual([message]);
  });

  it('reports usage errors as JSON too', async () => {
    const result = await run('save', '--json');

    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout)).toEqual({
      action: 'save',
      ok: false,
      error: 'save: expected <deploy_id> <checkpoint> <host>, got 0 argument(s); see --help',
    });
    expect(result.stderr).toHaveLength(1);
  });
});
