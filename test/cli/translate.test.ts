import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runOnevmm } from './helpers.js';

const root = path.join(import.meta.dirname, '../..');
const example = path.join(root, 'examples/web.tmpl');
const work = mkdtempSync(path.join(tmpdir(), 'onevmm-cli-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const run = runOnevmm;

function file(name: string, text: string): string {
  const target = path.join(work, name);
  writeFileSync(target, text);
  return target;
}

describe('onevmm translate', () => {
  it('prints the domain XML of a template file', async () => {
    const result = await run('translate', example, '--vm-id', '42');
    expect(result.code).toBe(0);
    expect(result.stderr).toEqual([]);
    expect(result.stdout).toMatch(
      /^<domain type='kvm' [^>]*>\n\t<name>one-42<\/name>\n\t<title>web<\/title>/,
    );
    expect(result.stdout).toContain("<source file='/var/lib/one//datastores/0/42/disk.0'/>");
  });

  it('validates against the libvirt schema with --validate', async () => {
    expect((await run('translate', example, '--validate')).code).toBe(0);
  });

  it('reads oned VM XML and the action data envelope, raw or base64', async () => {
    const vmXml = path.join(root, 'test/fixtures/vm-xml/vm-42.xml');
    const action = readFileSync(path.join(root, 'test/fixtures/vm-xml/deploy-42.xml'), 'utf8');
    const fromVm = await run('translate', vmXml);
    expect(fromVm.code).toBe(0);
    const raw = await run('translate', file('deploy.xml', action));
    const base64 = await run('translate', file('deploy.b64', Buffer.from(action).toString('base64')));
    expect(raw.code).toBe(0);
    expect(base64.stdout).toBe(raw.stdout);
  });

  it('uses the --defaults file', async () => {
    const defaults = file(
      'defaults.conf',
      'OS = [ ARCH = "x86_64", MACHINE = "pc" ]\nEMULATOR = /usr/bin/kvm\n',
    );
    const result = await run('translate', example, '--defaults', defaults);
    expect(result.stdout).toContain('<emulator>/usr/bin/kvm</emulator>');
    expect(result.stdout).toContain("<type arch='x86_64' machine='pc'>hvm</type>");
  });

  it.each([
    [
      'a syntax error',
      'NAME = x\nDISK = [ TYPE = ]\n',
      /^onevmm: .*bad\.tmpl:2:17: expected a value for TYPE/,
    ],
    [
      'a missing MEMORY',
      'NAME = x\nVCPU = 1\n',
      /^onevmm: .*bad\.tmpl: MEMORY: No MEMORY defined and no default provided\.$/,
    ],
    ['malformed XML', '<VM><ID>1</ID>\n<TEMPLATE></VM>', /^onevmm: .*bad\.tmpl:2:11: expected <\/TEMPLATE>/],
    [
      'a control character',
      'NAME = "a\u0001b"\nMEMORY = 64\n',
      /^onevmm: .*bad\.tmpl: NAME: character U\+0001 at offset 1 cannot be written in XML/,
    ],
  ])('fails with one stderr line naming the file for %s', async (_what, text, message) => {
    const result = await run('translate', file('bad.tmpl', text));
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toHaveLength(1);
    expect(result.stderr[0]).toMatch(message);
  });

  it('fails clearly on a missing file, a bad defaults file and bad options', async () => {
    expect((await run('translate', path.join(work, 'nope.tmpl'))).stderr).toEqual([
      `onevmm: ${path.join(work, 'nope.tmpl')}: cannot read the VM: no such file`,
    ]);
    const badDefaults = file('bad.conf', 'OS = [ ARCH = ]\n');
    expect((await run('translate', example, '--defaults', badDefaults)).stderr[0]).toMatch(
      /bad\.conf:1:15: /,
    );
    expect((await run('translate', example, '--vm-id', '-3')).stderr[0]).toMatch(
      /--vm-id must be a non-negative integer/,
    );
    expect((await run('translate')).code).toBe(1);
    expect((await run('frobnicate', 'x')).code).toBe(1);
  });
});

describe('bin/onevmm (the built bundle)', () => {
  it('translates and exits 0, or prints one line and exits 1', () => {
    const ok = spawnSync(path.join(root, 'bin/onevmm'), ['translate', example], { encoding: 'utf8' });
    expect(ok.status).toBe(0);
    expect(ok.stdout).toContain('<name>one-0</name>');
    const bad = spawnSync(path.join(root, 'bin/onevmm'), ['translate', path.join(work, 'missing')], {
      encoding: 'utf8',
    });
    expect(bad.status).toBe(1);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('prints help', () => {
    const help = spawnSync(path.join(root, 'bin/onevmm'), ['translate', '--help'], { encoding: 'utf8' });
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('--validate');
  });
});
