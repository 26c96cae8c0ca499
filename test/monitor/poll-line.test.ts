import { describe, expect, it } from 'vitest';
import { parseDomstats, type DomainStats } from '../../src/monitor/domstats.js';
import {
  cpuPercent,
  cpuSampleOf,
  formatAllVmsPoll,
  formatPollLine,
  stateLetter,
} from '../../src/monitor/poll-line.js';
import { readVirshFixture } from '../actions/helpers.js';

function stats(values: Record<string, string>, name = 'one-5'): DomainStats {
  return { name, values: new Map(Object.entries(values)) };
}

function state(stateValue: number, reason: number): DomainStats {
  return stats({ 'state.state': String(stateValue), 'state.reason': String(reason) });
}

describe('stateLetter', () => {
  it('is d for a domain that is not there', () => {
    expect(stateLetter(undefined)).toBe('d');
  });

  // virDomainRunningReason 0–11: running is active whatever the reason.
  it.each(Array.from({ length: 12 }, (_, reason) => reason))('running (1), reason %i → a', (reason) => {
    expect(stateLetter(state(1, reason))).toBe('a');
  });

  it.each([
    [2, 0, 'a'], // blocked
    [4, 0, 'a'], // shutdown (in shutdown), unknown
    [4, 1, 'a'], // shutdown, user
    [6, 0, 'e'], // crashed
    [6, 1, 'e'], // crashed, panicked
    [7, 0, 'e'], // pmsuspended
  ] as const)('state %i, reason %i → %s', (stateValue, reason, letter) => {
    expect(stateLetter(state(stateValue, reason))).toBe(letter);
  });

  // virDomainShutoffReason 0–8: a shut-off domain is gone for OpenNebula.
  it.each(Array.from({ length: 9 }, (_, reason) => reason))('shut off (5), reason %i → d', (reason) => {
    expect(stateLetter(state(5, reason))).toBe('d');
  });

  // virDomainPausedReason (libvirt include/libvirt/libvirt-domain.h) and OpenNebula 5.10's
  // KVMDomain.get_state (reference §4.1): paused for 'I/O error', 'watchdog', 'crashed',
  // 'post-copy failed', 'user' or 'unknown' → e; every other paused reason ('migrating',
  // 'saving', 'creating snapshot'…) → a.
  // BUG: poll-line.ts lists {0, 1, 2, 3, 9, 13} as the error reasons: 2, 3 and 9 are migration,
  // save and snapshot (should be a), while 5 I/O error, 6 watchdog and 10 crashed are missing
  // (should be e). The right set is {0, 1, 5, 6, 10, 13}.
  it.each([
    [0, 'unknown', 'e'],
    [1, 'user', 'e'],
    [2, 'migrating', 'a'],
    [3, 'saving', 'a'],
    [4, 'dumping', 'a'],
    [5, 'I/O error', 'e'],
    [6, 'watchdog', 'e'],
    [7, 'from snapshot', 'a'],
    [8, 'shutting down', 'a'],
    [9, 'creating snapshot', 'a'],
    [10, 'crashed', 'e'],
    [11, 'starting up', 'a'],
    [12, 'post-copy', 'a'],
    [13, 'post-copy failed', 'e'],
    [14, 'api error', 'a'],
  ] as const)('paused (3), reason %i (%s) → %s', (reason, _name, letter) => {
    expect(stateLetter(state(3, reason))).toBe(letter);
  });

  it('reads the recorded test-driver states', () => {
    const letters = parseDomstats(readVirshFixture('test-driver-domstats-all.out')).map(
      (domain) => `${domain.name}=${stateLetter(domain)}`,
    );

    expect(letters).toEqual(['one-6=e', 'one-5=a', 'manual-vm=a', 'one-8=d']);
  });
});

describe('cpuPercent', () => {
  const at = 1_700_000_000_000;

  it('is 0 without a previous sample', () => {
    expect(cpuPercent(undefined, { cpuTimeNs: 5e9, at })).toBe(0);
  });

  it('is the share of one CPU between the two samples', () => {
    // 1 s of CPU in 10 s: 10 %; 20 s in 10 s: two full CPUs.
    expect(cpuPercent({ cpuTimeNs: 0, at }, { cpuTimeNs: 1e9, at: at + 10_000 })).toBe(10);
    expect(cpuPercent({ cpuTimeNs: 5e9, at }, { cpuTimeNs: 25e9, at: at + 10_000 })).toBe(200);
    expect(cpuPercent({ cpuTimeNs: 5e9, at }, { cpuTimeNs: 5e9, at: at + 10_000 })).toBe(0);
  });

  it('rounds to two decimals', () => {
    expect(cpuPercent({ cpuTimeNs: 0, at }, { cpuTimeNs: 1e9, at: at + 3_000 })).toBe(33.33);
    expect(cpuPercent({ cpuTimeNs: 0, at }, { cpuTimeNs: 2e9, at: at + 3_000 })).toBe(66.67);
    expect(cpuPercent({ cpuTimeNs: 0, at }, { cpuTimeNs: 1, at: at + 60_000 })).toBe(0);
  });

  it('is 0 when the clock did not move or went back', () => {
    expect(cpuPercent({ cpuTimeNs: 0, at }, { cpuTimeNs: 1e9, at })).toBe(0);
    expect(cpuPercent({ cpuTimeNs: 0, at }, { cpuTimeNs: 1e9, at: at - 1_000 })).toBe(0);
  });

  it('is 0 when cpu.time went back (the domain was restarted)', () => {
    expect(cpuPercent({ cpuTimeNs: 9e9, at }, { cpuTimeNs: 1e9, at: at + 10_000 })).toBe(0);
  });
});

describe('cpuSampleOf', () => {
  it('takes cpu.time (ns) and the given time', () => {
    expect(cpuSampleOf(stats({ 'cpu.time': '52613461528' }), 42)).toEqual({ cpuTimeNs: 52613461528, at: 42 });
  });

  it('is 0 ns without a usable cpu.time', () => {
    expect(cpuSampleOf(stats({}), 42)).toEqual({ cpuTimeNs: 0, at: 42 });
    expect(cpuSampleOf(stats({ 'cpu.time': 'n/a' }), 42)).toEqual({ cpuTimeNs: 0, at: 42 });
  });
});

describe('formatPollLine', () => {
  it('is STATE=d alone for a domain that is not there', () => {
    expect(formatPollLine(undefined, 12)).toBe('STATE=d');
  });

  it('writes STATE CPU MEMORY NETRX NETTX DISK* with sums over every NIC and disk', () => {
    const [one5] = parseDomstats(readVirshFixture('qemu-domstats-one-5.out'));

    expect(formatPollLine(one5, 12.5)).toBe(
      'STATE=a CPU=12.5 MEMORY=428316 NETRX=19156625 NETTX=1372180 DISKRDBYTES=272944128 DISKWRBYTES=38805504 DISKRDIOPS=10053 DISKWRIOPS=2117',
    );
  });

  it('takes MEMORY from balloon.rss, else balloon.current, else 0', () => {
    expect(formatPollLine(stats({ 'balloon.current': '1048576', 'balloon.rss': '4096' }), 0)).toContain(
      ' MEMORY=4096 ',
    );
    expect(formatPollLine(stats({ 'balloon.current': '1048576' }), 0)).toContain(' MEMORY=1048576 ');
    expect(formatPollLine(stats({}), 0)).toContain(' MEMORY=0 ');
  });

  it('counts only the counters it names (not pkts, errs, times, or --backing entries)', () => {
    const line = formatPollLine(
      stats({
        'state.state': '1',
        'net.0.rx.bytes': '10',
        'net.0.rx.pkts': '1000',
        'net.12.rx.bytes': '5',
        'net.0.tx.bytes': '7',
        'net.0.tx.drop': '1000',
        'block.0.rd.bytes': '100',
        'block.0.rd.times': '1000',
        'block.3.rd.bytes': '1',
        'block.0.wr.bytes': '50',
        'block.0.rd.reqs': '4',
        'block.0.wr.reqs': '2',
        'block.0.fl.reqs': '1000',
        'block.count': '1000',
        'net.count': '1000',
        'block.0.backingIndex': '1000',
      }),
      0,
    );

    expect(line).toBe(
      'STATE=a CPU=0 MEMORY=0 NETRX=15 NETTX=7 DISKRDBYTES=101 DISKWRBYTES=50 DISKRDIOPS=4 DISKWRIOPS=2',
    );
  });

  it('treats a counter that is not a number as 0', () => {
    expect(formatPollLine(stats({ 'net.0.rx.bytes': 'x', 'net.1.rx.bytes': '3' }), 0)).toContain(' NETRX=3 ');
  });
});

describe('formatAllVmsPoll', () => {
  it('gives VM_POLL=YES then one VM=[…] per domain; one-<n> gives ID=n, others ID=-1', () => {
    const line = formatAllVmsPoll([
      { stats: stats({}, 'one-5'), line: 'STATE=a CPU=1' },
      { stats: stats({}, 'one-123'), line: 'STATE=d' },
      { stats: stats({}, 'manual-vm'), line: 'STATE=a' },
      { stats: stats({}, 'one-5-copy'), line: 'STATE=a' },
    ]);

    expect(line).toBe(
      'VM_POLL=YES VM=[ ID=5, DEPLOY_ID=one-5, POLL="STATE=a CPU=1" ] VM=[ ID=123, DEPLOY_ID=one-123, POLL="STATE=d" ] ' +
        'VM=[ ID=-1, DEPLOY_ID=manual-vm, POLL="STATE=a" ] VM=[ ID=-1, DEPLOY_ID=one-5-copy, POLL="STATE=a" ]',
    );
  });

  it('uses the UUID as DEPLOY_ID of a domain that is not OpenNebula’s, when it is known', () => {
    const uuid = '3a7e9b10-1c2d-4e5f-8a9b-0c1d2e3f4a5b';

    expect(
      formatAllVmsPoll([
        { stats: stats({}, 'manual-vm'), line: 'STATE=a', uuid },
        { stats: stats({}, 'one-5'), line: 'STATE=a', uuid },
      ]),
    ).toBe(
      `VM_POLL=YES VM=[ ID=-1, DEPLOY_ID=${uuid}, POLL="STATE=a" ] VM=[ ID=5, DEPLOY_ID=one-5, POLL="STATE=a" ]`,
    );
  });

  it('is VM_POLL=YES alone without domains', () => {
    expect(formatAllVmsPoll([])).toBe('VM_POLL=YES');
  });
});
