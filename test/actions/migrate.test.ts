import { describe, expect, it } from 'vitest';
import { migrate, parseJobInfo, type MigrateInput } from '../../src/actions/migrate.js';
import { FakeRunner, type FakeCall, type FakeReply } from '../../src/host/fake-runner.js';
import { createTestContext, failure, recorded, type TestContext, VIRSH } from './helpers.js';

const input: MigrateInput = { source: 'node1', destination: 'node2', domain: 'one-5', driveFrom: 'source' };
const DOMSTATE = `${VIRSH} domstate -- one-5`;
const SNAPSHOT_LIST = `${VIRSH} snapshot-list --name --topological -- one-5`;
// virsh migrate gets MIGRATE_TIMEOUT (default 900 s) plus 30 s of grace from `timeout`.
const MIGRATE = 'LC_ALL=C timeout --kill-after=5s 930s virsh --connect qemu:///system migrate --live';
const MIGRATION_FAILED = {
  exitCode: 1,
  stderr: 'error: operation failed: migration out job: unexpectedly failed\n',
};

type State = 'running' | 'paused' | 'shut off' | 'absent';

// Two hosts whose `virsh domstate` answers from `states`; `migrate` runs `onMigrate` (by default
// the domain moves from node1 to node2). Progress reads (domjobinfo)
// fail; they change nothing.
function cluster(
  test: TestContext,
  states: Record<string, State>,
  onMigrate: (call: FakeCall) => FakeReply | Promise<FakeReply> = () => {
    states['node1'] = 'absent';
    states['node2'] = 'running';
    return { stdout: '\nMigration: [100 %]\n' };
  },
): Record<string, State> {
  test.runner
    .reply('domstate', (call) =>
      (states[call.host] ?? 'absent') === 'absent'
        ? recorded('domstate-missing', 'one-5')
        : { stdout: `${states[call.host]}\n\n` },
    )
    .reply(' migrate ', onMigrate)
    .reply(' destroy ', (call) => {
      states[call.host] = 'absent';
      return recorded('destroy-running', 'one-5');
    })
    .reply(' resume ', (call) => {
      states[call.host] = 'running';
      return { stdout: "Domain 'one-5' resumed\n\n" };
    })
    // Answered a macrotask later: the progress loop sleeps on the fake clock (no real time), so
    // replies that never yield would starve the timers and the migrate reply.
    .reply(
      'domjobinfo',
      () =>
        new Promise<FakeReply>((resolve) =>
          setTimeout(() => resolve({ exitCode: 1, stderr: 'error: no job\n' }), 5),
        ),
    )
    .reply('snapshot-list', { stdout: '\n' });
  return states;
}

// The commands run on `host`, without the progress reads (their number depends on timing).
function commandsOn(runner: FakeRunner, host: string): string[] {
  return runner.commands(host).filter((command) => !command.includes('domjobinfo'));
}

describe('migrate', () => {
  it('a paused VM arrives paused: that is a success, and nothing is resumed', async () => {
    const test = createTestContext({ SYNC_TIME: 'no' });
    const states = cluster(test, { node1: 'paused', node2: 'absent' }, () => {
      states['node1'] = 'absent';
      states['node2'] = 'paused';
      return { stdout: '\n' };
    });

    const result = await migrate(test.ctx, input);

    expect(result.outcome).toBe('migrated');
    expect(test.runner.commands().some((command) => command.includes(' resume '))).toBe(false);
  });

  it('a destination with a trailing dot is still the source host', async () => {
    const test = createTestContext();

    const error = await failure(migrate(test.ctx, { ...input, destination: 'NODE1.' }));

    expect(error.message).toMatch(/the destination is the source host; nothing was changed/);
    expect(test.runner.calls).toEqual([]);
  });

  it('runs virsh migrate on the source with MIGRATE_OPTIONS and the per-VM flags, then reads both hosts', async () => {
    const test = createTestContext({ MIGRATE_OPTIONS: '--persistent --undefinesource', SYNC_TIME: 'no' });
    cluster(test, { node1: 'running', node2: 'absent' });

    const result = await migrate(test.ctx, { ...input, vmOptions: ['--auto-converge', '--compressed'] });

    expect(result).toMatchObject({ outcome: 'migrated', snapshots: 0 });
    expect(commandsOn(test.runner, 'node1')).toEqual([
      DOMSTATE,
      SNAPSHOT_LIST,
      `${MIGRATE} --persistent --undefinesource --auto-converge --compressed -- one-5 qemu+ssh://node2/system`,
      DOMSTATE,
    ]);
    expect(commandsOn(test.runner, 'node2')).toEqual([DOMSTATE, DOMSTATE]);
    // The reads after the migration come after it.
    const commands = test.runner.commands().filter((c) => !c.includes('domjobinfo'));
    expect(commands.slice(-2)).toEqual([DOMSTATE, DOMSTATE]);
    expect(test.runner.calls.filter((c) => c.command === DOMSTATE).map((c) => c.host)).toEqual([
      'node1',
      'node2',
      'node1',
      'node2',
    ]);
  });

  it('syncs the guest clock on the destination with SYNC_TIME (the default), ignoring a failure', async () => {
    const test = createTestContext();
    cluster(test, { node1: 'running', node2: 'absent' });
    test.runner.reply('domtime', { exitCode: 1, stderr: 'error: Guest agent is not responding\n' });

    expect((await migrate(test.ctx, input)).outcome).toBe('migrated');
    expect(commandsOn(test.runner, 'node2').at(-1)).toBe(
      'LC_ALL=C timeout --kill-after=5s 5s virsh --connect qemu:///system domtime --sync -- one-5',
    );
  });

  it('fails when virsh migrate succeeds but the domain does not run on the destination afterwards', async () => {
    const test = createTestContext({ SYNC_TIME: 'no' });
    const states = cluster(test, { node1: 'running', node2: 'absent' }, () => {
      states['node1'] = 'absent';
      return { stdout: '' };
    });

    const error = await failure(migrate(test.ctx, input));

    expect(error.message).toContain(
      'the domain is absent on node1 and absent on node2; check both hosts by hand',
    );
  });

  it.each([
    ['node1', 'node1'],
    ['node1', 'NODE1'],
    ['node1.', 'node1'],
    ['Node1.Example.', 'node1.example'],
  ])(
    'refuses source %j and destination %j as the same host, before any command',
    async (source, destination) => {
      const test = createTestContext();

      const error = await failure(migrate(test.ctx, { ...input, source, destination }));

      expect(error.message).toContain('the destination is the source host; nothing was changed');
      expect(test.runner.calls).toEqual([]);
    },
  );

  it('refuses a destination that is not a host name, before any command', async () => {
    const test = createTestContext();

    const error = await failure(migrate(test.ctx, { ...input, destination: 'node2/system?x=1' }));

    expect(error.message).toContain("the destination 'node2/system?x=1' is not a host name or address");
    expect(test.runner.calls).toEqual([]);
  });

  it("reports 'already' when the domain runs on the destination and not on the source, running no migrate", async () => {
    const test = createTestContext();
    cluster(test, { node1: 'absent', node2: 'running' });

    const result = await migrate(test.ctx, input);

    expect(result).toEqual({ outcome: 'already', seconds: 0, snapshots: 0 });
    expect(test.runner.commands()).toEqual([DOMSTATE, DOMSTATE]);
    expect(test.logs).toEqual([['I', 'one-5 already runs on node2 and not on node1: nothing to do']]);
  });

  it('refuses when the domain runs on both hosts before, running nothing else', async () => {
    const test = createTestContext();
    cluster(test, { node1: 'running', node2: 'running' });

    const error = await failure(migrate(test.ctx, input));

    expect(error.message).toContain('is already running on node2; refusing to start a second copy');
    expect(test.runner.commands()).toEqual([DOMSTATE, DOMSTATE]);
  });

  it('fails when the domain runs on neither host', async () => {
    const test = createTestContext();
    cluster(test, { node1: 'absent', node2: 'absent' });

    const error = await failure(migrate(test.ctx, input));

    expect(error.message).toContain('the domain is absent on node1; nothing to migrate');
    expect(test.runner.commands()).toEqual([DOMSTATE, DOMSTATE]);
  });

  it('destroys the leftover on the destination when virsh migrate fails, and says the VM still runs on the source', async () => {
    const test = createTestContext({ SYNC_TIME: 'no' });
    const states = cluster(test, { node1: 'running', node2: 'absent' }, () => {
      // The incoming domain was created (paused) on node2 before the failure.
      states['node2'] = 'paused';
      return MIGRATION_FAILED;
    });

    const error = await failure(migrate(test.ctx, input));

    // libvirt's failure keeps its code (a failed command).
    expect(error.code).toBe('COMMAND');
    expect(error.message).toContain(
      'migration of one-5 from node1 to node2 failed; the VM still runs on the source and nothing is left on the destination',
    );
    expect(error.message).toContain('operation failed: migration out job: unexpectedly failed');
    expect(commandsOn(test.runner, 'node2')).toEqual([
      DOMSTATE,
      DOMSTATE,
      `${VIRSH} destroy -- one-5`,
      DOMSTATE,
      DOMSTATE,
    ]);
    // Checked twice on the source after the failure: where it runs, and that it runs.
    expect(commandsOn(test.runner, 'node1').slice(-2)).toEqual([DOMSTATE, DOMSTATE]);
    expect(states).toEqual({ node1: 'running', node2: 'absent' });
  });

  it('undefines a persistent leftover on the destination that is shut off once destroyed', async () => {
    const test = createTestContext({ SYNC_TIME: 'no' });
    const states: Record<string, State> = { node1: 'running', node2: 'absent' };
    // A persistent domain stays defined (shut off) after destroy.
    test.runner
      .reply(
        (call) => call.host === 'node2' && call.command.includes(' destroy '),
        () => {
          states['node2'] = 'shut off';
          return recorded('destroy-running', 'one-5');
        },
      )
      .reply(' undefine ', () => {
        states['node2'] = 'absent';
        return { stdout: "Domain 'one-5' has been undefined\n" };
      });
    cluster(test, states, () => {
      states['node2'] = 'running';
      return MIGRATION_FAILED;
    });

    await failure(migrate(test.ctx, input));

    expect(commandsOn(test.runner, 'node2')).toEqual([
      DOMSTATE,
      DOMSTATE,
      `${VIRSH} destroy -- one-5`,
      DOMSTATE,
      DOMSTATE,
      `${VIRSH} undefine --keep-nvram -- one-5`,
    ]);
    expect(states['node2']).toBe('absent');
  });

  it('resumes the domain on the source when the failed migration left it paused', async () => {
    const test = createTestContext({ SYNC_TIME: 'no' });
    const states = cluster(test, { node1: 'running', node2: 'absent' }, () => {
      states['node1'] = 'paused';
      return MIGRATION_FAILED;
    });

    const error = await failure(migrate(test.ctx, input));

    expect(error.message).toContain('still runs on the source');
    expect(commandsOn(test.runner, 'node1').slice(-3)).toEqual([
      DOMSTATE,
      `${VIRSH} resume -- one-5`,
      DOMSTATE,
    ]);
    expect(commandsOn(test.runner, 'node2')).toEqual([DOMSTATE, DOMSTATE]);
    expect(test.logs).toContainEqual([
      'I',
      'one-5 is paused on node1 after the failed migration: resuming it',
    ]);
  });

  it('counts a failed virsh migrate as success when the domain left the source and runs on the destination', async () => {
    const test = createTestContext({ SYNC_TIME: 'no' });
    const states = cluster(test, { node1: 'running', node2: 'absent' }, () => {
      states['node1'] = 'absent';
      states['node2'] = 'running';
      return { exitCode: 1, stderr: 'error: Disconnected from qemu+ssh://node2/system due to end of file\n' };
    });

    const result = await migrate(test.ctx, input);

    expect(result.outcome).toBe('migrated');
    expect(test.logs).toContainEqual([
      'W',
      'migration of one-5 from node1 to node2: virsh reported a failure, but the domain now runs on node2 only',
    ]);
    expect(test.runner.commands().some((c) => c.includes(' destroy '))).toBe(false);
  });

  it('aborts the job with domjobabort on the source when MIGRATE_TIMEOUT is reached (error code TIMEOUT)', async () => {
    const test = createTestContext({ MIGRATE_TIMEOUT: '1', SYNC_TIME: 'no' });
    let aborted: (() => void) | undefined;
    const abortedJob = new Promise<void>((resolve) => (aborted = resolve));
    cluster(test, { node1: 'running', node2: 'absent' }, async () => {
      await abortedJob;
      return { exitCode: 1, stderr: 'error: operation aborted: migration out job: canceled by client\n' };
    });
    test.runner.reply('domjobabort', () => {
      aborted?.();
      return { stdout: '' };
    });

    const error = await failure(migrate(test.ctx, input));

    expect(error.code).toBe('TIMEOUT');
    expect(error.message).toContain('MIGRATE_TIMEOUT=1s reached, the job was aborted');
    expect(error.message).toContain('canceled by client');
    expect(error.message).toContain('still runs on the source');
    expect(commandsOn(test.runner, 'node1')).toContain(`${VIRSH} domjobabort -- one-5`);
    expect(commandsOn(test.runner, 'node1')).toContain(
      'LC_ALL=C timeout --kill-after=5s 31s virsh --connect qemu:///system migrate --live -- one-5 qemu+ssh://node2/system',
    );
    expect(test.logs).toContainEqual([
      'W',
      'no end after MIGRATE_TIMEOUT=1s: aborting the migration of one-5 (virsh domjobabort)',
    ]);
  });

  describe('snapshots', () => {
    const xmlOf = (name: string): string =>
      `<domainsnapshot><name>${name}</name><domain><uuid>u</uuid></domain></domainsnapshot>\n`;

    function withSnapshots(test: TestContext): void {
      test.runner
        .reply('snapshot-list', { stdout: 'snap-0\nsnap-1\n\n' })
        .reply('snapshot-dumpxml', (call) => ({ stdout: xmlOf(call.step.argv.at(-1) ?? '') }))
        .reply('snapshot-current', { stdout: 'snap-1\n' })
        .reply('snapshot-delete --metadata', { stdout: '' })
        .reply('snapshot-create --redefine', { stdout: '' });
    }

    const DETACH = [
      `${VIRSH} snapshot-list --name --topological -- one-5`,
      `${VIRSH} snapshot-dumpxml -- one-5 snap-0`,
      `${VIRSH} snapshot-dumpxml -- one-5 snap-1`,
      `${VIRSH} snapshot-current --name -- one-5`,
      `${VIRSH} snapshot-delete --metadata -- one-5 snap-1`,
      `${VIRSH} snapshot-delete --metadata -- one-5 snap-0`,
    ];
    const REDEFINE = [
      `${VIRSH} snapshot-create --redefine --xmlfile /dev/stdin -- one-5`,
      `${VIRSH} snapshot-create --redefine --current --xmlfile /dev/stdin -- one-5`,
    ];

    it('takes the snapshot metadata off the source first and redefines it on the destination after success', async () => {
      const test = createTestContext({ SYNC_TIME: 'no' });
      withSnapshots(test);
      cluster(test, { node1: 'running', node2: 'absent' });

      const result = await migrate(test.ctx, input);

      expect(result.snapshots).toBe(2);
      expect(commandsOn(test.runner, 'node1')).toEqual([
        DOMSTATE,
        ...DETACH,
        `${MIGRATE} -- one-5 qemu+ssh://node2/system`,
        DOMSTATE,
      ]);
      expect(commandsOn(test.runner, 'node2')).toEqual([DOMSTATE, DOMSTATE, ...REDEFINE]);
      const redefined = test.runner.calls.filter((c) => c.command.includes('--redefine'));
      expect(redefined.map((c) => c.step.stdin)).toEqual([xmlOf('snap-0'), xmlOf('snap-1')]);
    });

    it('redefines the snapshots on the source after a failed migration', async () => {
      const test = createTestContext({ SYNC_TIME: 'no' });
      withSnapshots(test);
      cluster(test, { node1: 'running', node2: 'absent' }, () => MIGRATION_FAILED);

      await failure(migrate(test.ctx, input));

      expect(commandsOn(test.runner, 'node1').slice(-2)).toEqual(REDEFINE);
      expect(commandsOn(test.runner, 'node2')).toEqual([DOMSTATE, DOMSTATE]);
    });
  });

  describe('copy storage', () => {
    const DOMAIN_XML = `<domain type='kvm'>
  <name>one-5</name>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' cache='none'/>
      <source file='/var/lib/one//datastores/0/5/disk.0'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <source file='/var/lib/one//datastores/0/5/disk.1'/>
      <target dev='sda' bus='sata'/>
      <readonly/>
    </disk>
  </devices>
</domain>
`;
    const CREATE = `LC_ALL=C timeout --kill-after=5s 60s sh -c 'if [ -e "$1" ]; then echo "$1 exists already (shared storage? then do not copy storage)" >&2; exit 3; fi; mkdir -p -- "$(dirname -- "$1")" && qemu-img create -q -f "$2" "$1" "$3"' sh /var/lib/one//datastores/0/5/disk.0 qcow2 10737418240`;

    function withDisks(test: TestContext): void {
      test.runner
        .reply(' dumpxml ', { stdout: DOMAIN_XML })
        .reply('qemu-img info', {
          stdout:
            '{\n    "virtual-size": 10737418240,\n    "filename": "/var/lib/one//datastores/0/5/disk.0",\n    "format": "qcow2"\n}\n',
        })
        .reply(' rm -f ', { stdout: '' });
    }

    it('creates the writable disks on the destination and migrates with --copy-storage-all --migrate-disks vda', async () => {
      const test = createTestContext({ SYNC_TIME: 'no' });
      withDisks(test);
      test.runner.reply('qemu-img create', { stdout: '' });
      cluster(test, { node1: 'running', node2: 'absent' });

      expect((await migrate(test.ctx, { ...input, copyStorage: true })).outcome).toBe('migrated');

      expect(commandsOn(test.runner, 'node1')).toEqual([
        DOMSTATE,
        `${VIRSH} dumpxml -- one-5`,
        'LC_ALL=C timeout --kill-after=5s 60s qemu-img info -U --output=json /var/lib/one//datastores/0/5/disk.0',
        SNAPSHOT_LIST,
        `${MIGRATE} --copy-storage-all --migrate-disks vda -- one-5 qemu+ssh://node2/system`,
        DOMSTATE,
      ]);
      expect(commandsOn(test.runner, 'node2')).toEqual([DOMSTATE, CREATE, DOMSTATE]);
    });

    it('copies storage when MIGRATE_OPTIONS has --copy-storage-inc, without adding --copy-storage-all', async () => {
      const test = createTestContext({ SYNC_TIME: 'no', MIGRATE_OPTIONS: '--copy-storage-inc' });
      withDisks(test);
      test.runner.reply('qemu-img create', { stdout: '' });
      cluster(test, { node1: 'running', node2: 'absent' });

      await migrate(test.ctx, input);

      expect(commandsOn(test.runner, 'node1')).toContain(
        `${MIGRATE} --copy-storage-inc --migrate-disks vda -- one-5 qemu+ssh://node2/system`,
      );
    });

    it('removes the disk files it created on the destination when the migration fails', async () => {
      const test = createTestContext({ SYNC_TIME: 'no' });
      withDisks(test);
      test.runner.reply('qemu-img create', { stdout: '' });
      cluster(test, { node1: 'running', node2: 'absent' }, () => MIGRATION_FAILED);

      const error = await failure(migrate(test.ctx, { ...input, copyStorage: true }));

      expect(error.message).toContain('still runs on the source');
      expect(commandsOn(test.runner, 'node2')).toEqual([
        DOMSTATE,
        CREATE,
        DOMSTATE,
        'LC_ALL=C timeout --kill-after=5s 60s rm -f -- /var/lib/one//datastores/0/5/disk.0',
      ]);
    });

    describe("with the VM's folder (oned's payload, or the domain's one:system_datastore)", () => {
      const DIR = '/var/lib/one//datastores/0/5';
      const WITH_METADATA = DOMAIN_XML.replace(
        '</devices>',
        `</devices>\n  <metadata><one:vm xmlns:one="http://opennebula.org/xmlns/libvirt/1.0"><one:system_datastore><![CDATA[${DIR}]]></one:system_datastore></one:vm></metadata>`,
      );
      const LISTING = [
        'R /var/lib/one/datastores/0/5',
        'D /var/lib/one/datastores/0/5/disk.0.snap/0',
        'E disk.0',
        'E disk.0.snap',
        'E disk.0.snap/0',
        'E disk.1',
        'E deployment.0',
        'E vm.xml',
        '',
      ].join('\n');

      function withFolder(test: TestContext, create: FakeReply = { stdout: '' }): void {
        test.runner
          .reply(' dumpxml ', { stdout: WITH_METADATA })
          .reply((call) => call.step.step === 'create the VM folder', create)
          .reply((call) => call.step.step === 'list the VM folder', { stdout: LISTING })
          .reply('tar -C', { stdout: '' });
        withDisks(test);
        test.runner.reply('qemu-img create', { stdout: '' }).reply(' rm -rf ', { stdout: '' });
      }

      it('copies the folder but the writable disks (links and snapshot folders kept), then creates the disks', async () => {
        const test = createTestContext({ SYNC_TIME: 'no' });
        withFolder(test);
        cluster(test, { node1: 'running', node2: 'absent' });

        expect((await migrate(test.ctx, { ...input, copyStorage: true })).outcome).toBe('migrated');

        const node2 = commandsOn(test.runner, 'node2');
        expect(node2[1]).toBe(
          `LC_ALL=C timeout --kill-after=5s 60s sh -c 'if [ -e "$1" ] && [ -n "$(ls -A -- "$1")" ]; then echo "$1 is not empty on this host: is the system datastore shared? (then SHARED=YES, and no copy)" >&2; exit 3; fi; mkdir -p -- "$1"' sh ${DIR}`,
        );
        expect(node2[2]).toBe(CREATE);
        const copy = test.runner.calls.find((call) => call.step.step === 'copy the VM folder to node2');
        expect(copy?.host).toBe('node1');
        expect(copy?.command).toBe(
          `LC_ALL=C timeout --kill-after=5s 900s sh -c 'tar -C "$1" -cf - --no-recursion --verbatim-files-from -T - | ssh -o BatchMode=yes -- "$2" "$3"' sh ${DIR} node2 'tar -C ${DIR} -xf -'`,
        );
        // everything but the file behind the writable disk vda
        expect(copy?.step.stdin).toBe('./disk.0\n./disk.0.snap\n./disk.1\n./vm.xml\n');
        const list = test.runner.calls.find((call) => call.step.step === 'list the VM folder');
        expect(list?.step.argv.slice(4)).toEqual([DIR, `${DIR}/disk.0`]);
      });

      it('takes the folder from the input (the payload) first', async () => {
        const test = createTestContext({ SYNC_TIME: 'no' });
        withFolder(test);
        cluster(test, { node1: 'running', node2: 'absent' });

        await migrate(test.ctx, { ...input, copyStorage: true, vmDir: '/srv/ds/0/5' });

        const list = test.runner.calls.find((call) => call.step.step === 'list the VM folder');
        expect(list?.step.argv[4]).toBe('/srv/ds/0/5');
      });

      it('refuses a folder that is not empty on the destination (shared storage): nothing copied or removed', async () => {
        const test = createTestContext({ SYNC_TIME: 'no' });
        withFolder(test, {
          exitCode: 3,
          stderr: `${DIR} is not empty on this host: is the system datastore shared? (then SHARED=YES, and no copy)\n`,
        });
        cluster(test, { node1: 'running', node2: 'absent' });

        const error = await failure(migrate(test.ctx, { ...input, copyStorage: true }));

        expect(error.message).toContain(
          'create the VM folder failed on node2: exit code 3: /var/lib/one//datastores/0/5 is not empty on this host',
        );
        expect(error.message).toContain('the VM still runs on the source');
        const commands = test.runner.commands();
        expect(
          commands.some((c) => c.includes(' migrate ') || c.includes('tar -C') || c.includes(' rm ')),
        ).toBe(false);
      });

      it('removes the folder it made on the destination when the migration fails', async () => {
        const test = createTestContext({ SYNC_TIME: 'no' });
        withFolder(test);
        cluster(test, { node1: 'running', node2: 'absent' }, () => MIGRATION_FAILED);

        await failure(migrate(test.ctx, { ...input, copyStorage: true }));

        expect(commandsOn(test.runner, 'node2').at(-1)).toBe(
          `LC_ALL=C timeout --kill-after=5s 60s rm -rf -- ${DIR}`,
        );
        expect(commandsOn(test.runner, 'node2').some((c) => c.includes('rm -f '))).toBe(false);
      });
    });

    it('refuses a disk file that exists on the destination already: no migrate, nothing removed', async () => {
      const test = createTestContext({ SYNC_TIME: 'no' });
      withDisks(test);
      test.runner.reply('qemu-img create', {
        exitCode: 3,
        stderr:
          '/var/lib/one//datastores/0/5/disk.0 exists already (shared storage? then do not copy storage)\n',
      });
      cluster(test, { node1: 'running', node2: 'absent' });

      const error = await failure(migrate(test.ctx, { ...input, copyStorage: true }));

      expect(error.message).toContain('disk.0 exists already');
      expect(test.runner.commands().some((c) => c.includes(' migrate '))).toBe(false);
      expect(test.runner.commands().some((c) => c.includes(' rm -f '))).toBe(false);
    });
  });

  it('migrate_local runs virsh on this machine, connected to the source', async () => {
    const local = new FakeRunner();
    const test = createTestContext({ SYNC_TIME: 'no' });
    const states = cluster(test, { node1: 'running', node2: 'absent' });
    local.reply(' migrate ', () => {
      states['node1'] = 'absent';
      states['node2'] = 'running';
      return { stdout: '' };
    });

    const result = await migrate({ ...test.ctx, local }, { ...input, driveFrom: 'front-end' });

    expect(result.outcome).toBe('migrated');
    expect(local.calls.map((c) => [c.host, c.command])).toEqual([
      [
        'front-end',
        'LC_ALL=C timeout --kill-after=5s 930s virsh --connect qemu+ssh://node1/system migrate --live -- one-5 qemu+ssh://node2/system',
      ],
    ]);
    expect(test.runner.commands().some((c) => c.includes(' migrate '))).toBe(false);
  });
});

describe('migration progress', () => {
  it('reads virsh domjobinfo on the source while the migration runs and reports it', async () => {
    const test = createTestContext({ SYNC_TIME: 'no' });
    const seen: number[] = [];
    let reported: () => void = () => undefined;
    const progressed = new Promise<void>((resolve) => (reported = resolve));
    // Registered before cluster(): earlier scripts win over its failing progress reads.
    test.runner.reply(
      'domjobinfo',
      () =>
        new Promise<FakeReply>((resolve) =>
          setTimeout(
            () =>
              resolve({
                stdout:
                  'Job type:         Unbounded\nOperation:        Outgoing migration\nData processed:   32.000 MiB\nData remaining:   96.000 MiB\nData total:       128.000 MiB\n',
              }),
            5,
          ),
        ),
    );
    const states = cluster(test, { node1: 'running', node2: 'absent' }, async () => {
      await progressed; // the migration ends only after one progress report
      states['node1'] = 'absent';
      states['node2'] = 'running';
      return { stdout: '\n' };
    });

    await migrate(test.ctx, {
      ...input,
      onProgress: (progress) => {
        if (progress.percent !== undefined) seen.push(progress.percent);
        reported();
      },
    });

    expect(seen[0]).toBe(25);
    expect(test.runner.commands('node1')).toContain(`${VIRSH.replace(' 60s ', ' 10s ')} domjobinfo -- one-5`);
  });
});

describe('parseJobInfo', () => {
  it('reads data total and remaining of `virsh domjobinfo` during a migration', () => {
    const text = [
      'Job type:         Unbounded   ',
      'Operation:        Outgoing migration',
      'Time elapsed:     3047         ms',
      'Data processed:   310.542 MiB',
      'Data remaining:   712.168 MiB',
      'Data total:       1.016 GiB',
      'Memory processed: 310.542 MiB',
      'Memory remaining: 712.168 MiB',
      'Memory total:     1.016 GiB',
      'Memory bandwidth: 102.060 MiB/s',
      'Dirty rate:       0            pages/s',
      'Page size:        4096         bytes',
      'Iteration:        1',
      'Postcopy requests: 0',
      'Constant pages:   4529',
      'Normal pages:     79167',
      'Normal data:      309.246 MiB',
      'Expected downtime: 300          ms',
      'Setup time:       17           ms',
      '',
    ].join('\n');

    const info = parseJobInfo(text);

    expect(info.totalMiB).toBeCloseTo(1040.384, 3);
    expect(info.remainingMiB).toBeCloseTo(712.168, 3);
    expect(info.percent).toBe(32);
  });

  it('reads nothing when no job runs', () => {
    expect(parseJobInfo('Job type:         None        \n\n')).toEqual({});
  });
});
