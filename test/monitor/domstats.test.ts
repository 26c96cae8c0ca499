import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseDomstats } from '../../src/monitor/domstats.js';
import { readVirshFixture } from '../actions/helpers.js';

describe('parseDomstats', () => {
  it('reads the recorded test-driver output: four domains, a blank line after each', () => {
    const domains = parseDomstats(readVirshFixture('test-driver-domstats-all.out'));

    expect(domains.map((d) => [d.name, Object.fromEntries(d.values)])).toEqual([
      ['one-6', { 'state.state': '3', 'state.reason': '0' }],
      ['one-5', { 'state.state': '1', 'state.reason': '0' }],
      ['manual-vm', { 'state.state': '1', 'state.reason': '0' }],
      ['one-8', { 'state.state': '5', 'state.reason': '0' }],
    ]);
  });

  it('reads every key of a qemu domain (2 NICs, 2 disks)', () => {
    const [one5, ...rest] = parseDomstats(readVirshFixture('qemu-domstats-one-5.out'));

    expect(rest).toEqual([]);
    expect(one5?.name).toBe('one-5');
    expect(one5?.values.size).toBe(68);
    expect(one5?.values.get('cpu.time')).toBe('52613461528');
    expect(one5?.values.get('balloon.last-update')).toBe('1732349112');
    expect(one5?.values.get('net.1.name')).toBe('one-5-1');
    expect(one5?.values.get('block.0.path')).toBe('/var/lib/one//datastores/0/5/disk.0');
    expect(one5?.values.get('block.1.physical')).toBe('376832');
  });

  it('splits several domains and keeps their order', () => {
    const domains = parseDomstats(readVirshFixture('qemu-domstats-all.out'));

    expect(domains.map((d) => d.name)).toEqual(['one-5', 'one-6', 'manual-vm', 'backup-vm']);
    expect(domains.map((d) => d.values.get('state.state'))).toEqual(['1', '3', '1', '5']);
    expect(domains[3]?.values.size).toBe(4);
  });

  it('keeps everything after the first "=" of a value', () => {
    const [domain] = parseDomstats(
      "Domain: 'one-5'\n  block.0.path=/srv/a=b/disk=0.qcow2\n  net.0.name=\n  x==\n",
    );

    expect(Object.fromEntries(domain?.values ?? [])).toEqual({
      'block.0.path': '/srv/a=b/disk=0.qcow2',
      'net.0.name': '',
      x: '=',
    });
  });

  it('ignores blank lines anywhere, and lines before the first domain', () => {
    const text = "\nwarning: noise from a login script\n\nDomain: 'a'\n\n  k=1\n\n\nDomain: 'b'\n  k=2\n\n";

    expect(parseDomstats(text).map((d) => [d.name, d.values.get('k')])).toEqual([
      ['a', '1'],
      ['b', '2'],
    ]);
  });

  it('reads names with quotes and blanks, and a domain with no values', () => {
    const domains = parseDomstats("Domain: 'it's a VM'\nDomain: 'one-7' \n  state.state=1\n");

    expect(domains.map((d) => [d.name, d.values.size])).toEqual([
      ["it's a VM", 0],
      ['one-7', 1],
    ]);
  });

  it('reads CRLF line ends', () => {
    const [domain] = parseDomstats("Domain: 'one-5'\r\n  state.state=1\r\n  cpu.time=42\r\n");

    expect(domain?.name).toBe('one-5');
    expect(domain?.values.get('cpu.time')).toBe('42');
  });

  it('is empty for empty output', () => {
    expect(parseDomstats('')).toEqual([]);
    expect(parseDomstats('\n')).toEqual([]);
  });

  it('reads back what virsh’s layout writes (property)', () => {
    const name = fc.stringMatching(/^[a-z][a-z0-9_.-]{0,20}$/);
    const key = fc.stringMatching(/^[a-z][a-z0-9_.-]{0,20}$/);
    const value = fc.stringMatching(/^[\x21-\x7e]{0,20}$/);
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(name, fc.dictionary(key, value)), { selector: ([n]) => n, maxLength: 5 }),
        (domains) => {
          const text = domains
            .map(
              ([n, values]) =>
                `Domain: '${n}'\n${Object.entries(values)
                  .map(([k, v]) => `  ${k}=${v}\n`)
                  .join('')}\n`,
            )
            .join('');
          expect(parseDomstats(text).map((d) => [d.name, Object.fromEntries(d.values)])).toEqual(domains);
        },
      ),
    );
  });
});
