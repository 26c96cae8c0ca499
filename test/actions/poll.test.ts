import { describe, expect, it } from 'vitest';
import { poll, type CpuSampleStore } from '../../src/actions/poll.js';
import { CommandError, TransportError } from '../../src/host/errors.js';
import type { CpuSample } from '../../src/monitor/poll-line.js';
import { createTestContext, readVirshFixture, recorded } from './helpers.js';

const DOMSTATS = 'domstats --state --cpu-total --balloon --interface --block --nowait';
const ONE_5 = readVirshFixture('qemu-domstats-one-5.out');
const ALL = readVirshFixture('qemu-domstats-all.out');
const TEST_DRIVER_ALL = readVirshFixture('test-driver-domstats-all.out');
// The sums of qemu-domstats-one-5.out (2 NICs, 2 disks), written out by hand.
const ONE_5_REST =
  'MEMORY=428316 NETRX=19156625 NETTX=1372180 DISKRDBYTES=272944128 DISKWRBYTES=38805504 DISKRDIOPS=10053 DISKWRIOPS=2117';

function createMemoryStore(): CpuSampleStore & { readonly samples: Map<string, CpuSample> } {
  const samples = new Map<string, CpuSample>();
  return {
    samples,
    get: (host, domain) => samples.get(`${host}/${domain}`),
    set: (host, domain, sample) => void samples.set(`${host}/${domain}`, sample),
  };
}

describe('poll of one VM', () => {
  it('asks one `virsh domstats` and sums both NICs and both disks', async () => {
    const { ctx, runner } = createTestContext();
    runner.reply(DOMSTATS, { stdout: ONE_5 });

    const result = await poll(ctx, { host: 'node1', domain: 'one-5' });

    expect(runner.commands()).toEqual([
      'LC_ALL=C timeout --kill-after=5s 60s virsh --connect qemu:///system domstats --state --cpu-total --balloon --interface --block --nowait -- one-5',
    ]);
    expect(result.line).toBe(`STATE=a CPU=0 ${ONE_5_REST}`);
    expect(result.domains).toEqual([{ name: 'one-5', line: result.line }]);
  });

  it('reports STATE=d for a domain libvirt does not know', async () => {
    const { ctx, runner } = createTestContext();
    runner.reply(DOMSTATS, recorded('domstats-missing', 'one-5'));

    expect(await poll(ctx, { host: 'node1', domain: 'one-5' })).toEqual({ line: 'STATE=d', domains: [] });
  });

  it('computes CPU from two samples kept in the store', async () => {
    const { ctx, runner, clock } = createTestContext();
    const store = createMemoryStore();
    // 10 s later the guest has used 15 s of CPU time: 150 % (one and a half CPUs).
    const later = ONE_5.replace('cpu.time=52613461528', 'cpu.time=67613461528');
    runner.reply(DOMSTATS, { stdout: ONE_5 }, { stdout: later });

    const first = await poll(ctx, { host: 'node1', domain: 'one-5', samples: store });
    expect(first.line).toBe(`STATE=a CPU=0 ${ONE_5_REST}`);
    expect(store.samples.get('node1/one-5')).toEqual({ cpuTimeNs: 52613461528, at: clock.now() });

    await clock.sleep(10_000);
    const second = await poll(ctx, { host: 'node1', domain: 'one-5', samples: store });

    expect(second.line).toBe(`STATE=a CPU=150 ${ONE_5_REST}`);
    expect(store.samples.get('node1/one-5')).toEqual({ cpuTimeNs: 67613461528, at: clock.now() });
  });

  it('keeps samples per host', async () => {
    const { ctx, runner, clock } = createTestContext();
    const store = createMemoryStore();
    runner.reply(DOMSTATS, { stdout: ONE_5 });

    await poll(ctx, { host: 'node1', domain: 'one-5', samples: store });
    await clock.sleep(10_000);
    const other = await poll(ctx, { host: 'node2', domain: 'one-5', samples: store });

    expect(other.line).toBe(`STATE=a CPU=0 ${ONE_5_REST}`);
    expect([...store.samples.keys()]).toEqual(['node1/one-5', 'node2/one-5']);
  });

  it.each([
    ['libvirtd is down', recorded('libvirtd-down')],
    ['virsh timed out on the host', { exitCode: 124, stderr: '' }],
    ['ssh is down', new TransportError({ host: 'node1', failure: 'connect' }, 'node1: connection refused')],
  ])('rejects when %s (never STATE=d)', async (_what, reply) => {
    const { ctx, runner } = createTestContext();
    runner.reply(DOMSTATS, reply);

    await expect(poll(ctx, { host: 'node1', domain: 'one-5' })).rejects.toThrow();
  });
});

describe('poll of every VM on the host', () => {
  it('asks one `virsh domstats` without a domain and gives ID and DEPLOY_ID of each', async () => {
    const { ctx, runner } = createTestContext();
    runner.reply(DOMSTATS, { stdout: ALL });

    const result = await poll(ctx, { host: 'node1' });

    expect(runner.commands()).toEqual([
      'LC_ALL=C timeout --kill-after=5s 60s virsh --connect qemu:///system domstats --state --cpu-total --balloon --interface --block --nowait',
    ]);
    const one5 = `STATE=a CPU=0 ${ONE_5_REST}`;
    const one6 =
      'STATE=e CPU=0 MEMORY=524288 NETRX=90112 NETTX=14336 DISKRDBYTES=80236544 DISKWRBYTES=5263360 DISKRDIOPS=3011 DISKWRIOPS=415';
    const manual =
      'STATE=a CPU=0 MEMORY=1622440 NETRX=5521904 NETTX=733018 DISKRDBYTES=1311555584 DISKWRBYTES=402653184 DISKRDIOPS=48812 DISKWRIOPS=19050';
    const backup =
      'STATE=d CPU=0 MEMORY=1048576 NETRX=0 NETTX=0 DISKRDBYTES=0 DISKWRBYTES=0 DISKRDIOPS=0 DISKWRIOPS=0';
    expect(result.line).toBe(
      [
        'VM_POLL=YES',
        `VM=[ ID=5, DEPLOY_ID=one-5, POLL="${one5}" ]`,
        `VM=[ ID=6, DEPLOY_ID=one-6, POLL="${one6}" ]`,
        `VM=[ ID=-1, DEPLOY_ID=manual-vm, POLL="${manual}" ]`,
        `VM=[ ID=-1, DEPLOY_ID=backup-vm, POLL="${backup}" ]`,
      ].join(' '),
    );
    expect(result.domains).toEqual([
      { name: 'one-5', line: one5 },
      { name: 'one-6', line: one6 },
      { name: 'manual-vm', line: manual },
      { name: 'backup-vm', line: backup },
    ]);
  });

  it('reads the recorded test-driver output (state group only)', async () => {
    const { ctx, runner } = createTestContext();
    runner.reply(DOMSTATS, { stdout: TEST_DRIVER_ALL });

    const result = await poll(ctx, { host: 'node1' });

    const zeros = 'CPU=0 MEMORY=0 NETRX=0 NETTX=0 DISKRDBYTES=0 DISKWRBYTES=0 DISKRDIOPS=0 DISKWRIOPS=0';
    expect(result.domains).toEqual([
      { name: 'one-6', line: `STATE=e ${zeros}` },
      { name: 'one-5', line: `STATE=a ${zeros}` },
      { name: 'manual-vm', line: `STATE=a ${zeros}` },
      { name: 'one-8', line: `STATE=d ${zeros}` },
    ]);
    expect(result.line).toContain(`VM=[ ID=-1, DEPLOY_ID=manual-vm, POLL="STATE=a ${zeros}" ]`);
    expect(result.line).toContain(`VM=[ ID=8, DEPLOY_ID=one-8, POLL="STATE=d ${zeros}" ]`);
  });

  it('is VM_POLL=YES alone for a host without domains', async () => {
    const { ctx, runner } = createTestContext();
    runner.reply(DOMSTATS, { stdout: '' });

    expect(await poll(ctx, { host: 'node1' })).toEqual({ line: 'VM_POLL=YES', domains: [] });
  });

  it('computes the CPU of every domain from the store', async () => {
    const { ctx, runner, clock } = createTestContext();
    const store = createMemoryStore();
    const later = ALL.replace('cpu.time=52613461528', 'cpu.time=57613461528').replace(
      'cpu.time=310977612004',
      'cpu.time=330977612004',
    );
    runner.reply(DOMSTATS, { stdout: ALL }, { stdout: later });

    await poll(ctx, { host: 'node1', samples: store });
    await clock.sleep(10_000);
    const result = await poll(ctx, { host: 'node1', samples: store });

    expect(result.domains.map(({ name, line }) => `${name} ${line.split(' ')[1] ?? ''}`)).toEqual([
      'one-5 CPU=50',
      'one-6 CPU=0',
      'manual-vm CPU=200',
      'backup-vm CPU=0',
    ]);
  });

  it.each([
    ['libvirtd is down', recorded('libvirtd-down')],
    ['ssh is down', new TransportError({ host: 'node1', failure: 'lost' }, 'node1: connection lost')],
    ['virsh was killed by the host’s timeout', { exitCode: 124, stderr: '' }],
  ])('rejects when %s, never reporting "no VMs"', async (_what, reply) => {
    const { ctx, runner } = createTestContext();
    runner.reply(DOMSTATS, reply);

    const failure = poll(ctx, { host: 'node1' });

    await expect(failure).rejects.toThrow();
    await expect(failure).rejects.toSatisfy(
      (error) => error instanceof CommandError || error instanceof TransportError,
    );
  });

  it('rejects a "failed to get domain" answer too: without a domain it cannot mean "VM gone"', async () => {
    const { ctx, runner } = createTestContext();
    runner.reply(DOMSTATS, recorded('domstats-missing'));

    await expect(poll(ctx, { host: 'node1' })).rejects.toBeInstanceOf(CommandError);
  });
});
