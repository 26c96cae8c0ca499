import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deploy, readDomainName, writeFiles } from '../../src/actions/deploy.js';
import { LocalRunner } from '../../src/host/local-runner.js';
import { CommandError, TransportError } from '../../src/host/errors.js';
import { OnevmmError, ParseError } from '../../src/util/errors.js';
import { createTestContext, recorded, VIRSH, WRITE_SCRIPT } from './helpers.js';

const XML = [
  "<domain type='kvm'>",
  '\t<name>one-5</name>',
  '\t<memory>1048576</memory>',
  '\t<devices>',
  "\t\t<disk type='file' device='disk'><source file='/var/lib/one//datastores/0/5/disk.0'/></disk>",
  '\t</devices>',
  '</domain>',
  '',
].join('\n');
const FILE = '/var/lib/one//datastores/0/5/deployment.0';
const UUID = '8f1c2d3e-0000-4a5b-9c6d-000000000005';
const WRITE = `LC_ALL=C timeout --kill-after=5s 60s sh -c '${WRITE_SCRIPT}' sh /var/lib/one//datastores/0/5 ${FILE} ${Buffer.byteLength(XML)}`;

describe('writeFiles (run by a real sh)', () => {
  it('splits one stdin into the files by byte count, multi-byte text and empty files included', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'onevmm-write-'));
    try {
      const files: [string, string][] = [
        [`${dir}/vm/deployment.0`, XML],
        [`${dir}/vm/vm.xml`, '<VM><NAME>«Ålice» €</NAME></VM>'],
        [`${dir}/vm/ds.xml`, ''],
        [`${dir}/vm/with space.xml`, 'EOT\n$(date)`x`\n'],
      ];
      writeFileSync(`${dir}/snap-3.xml`, '');
      const runner = new LocalRunner({ commandTimeoutSeconds: 10 });
      const result = await runner.run('fe', { step: 'write', ...writeFiles(`${dir}/vm`, files) });
      for (const [path, text] of files) expect(readFileSync(path, 'utf8')).toBe(text);
      expect(result.stdout).toBe('');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('deploy', () => {
  it('writes the XML through the fixed sh -c script (XML on stdin), creates the domain and returns its UUID', async () => {
    const { ctx, runner, logs } = createTestContext();
    runner
      .reply('domstate -- one-5', recorded('domstate-missing', 'one-5'))
      .reply("sh -c 'dir=", {})
      .reply('create ', { stdout: `Domain 'one-5' created from ${FILE}\n\n` })
      .reply('domuuid -- one-5', recorded('domuuid'));

    const result = await deploy(ctx, { host: 'node1', domainXml: XML, deploymentFile: FILE });

    expect(result).toEqual({ uuid: UUID, name: 'one-5', created: true });
    expect(runner.commands()).toEqual([
      'LC_ALL=C timeout --kill-after=5s 60s virsh --connect qemu:///system domstate -- one-5',
      WRITE,
      `LC_ALL=C timeout --kill-after=5s 60s virsh --connect qemu:///system create -- ${FILE}`,
      'LC_ALL=C timeout --kill-after=5s 60s virsh --connect qemu:///system domuuid -- one-5',
    ]);
    expect(runner.calls.map((call) => call.host)).toEqual(['node1', 'node1', 'node1', 'node1']);
    // The XML travels on stdin, exactly as given, and never in the command line.
    expect(runner.calls[1]?.step.stdin).toBe(XML);
    expect(runner.calls.filter((call) => call.step.stdin !== undefined)).toHaveLength(1);
    expect(runner.commands().join('\n')).not.toContain('<domain');
    expect(logs).toEqual([]);
  });

  it('creates the domain again when a persistent domain of that name is shut off', async () => {
    const { ctx, runner } = createTestContext();
    runner
      .reply('domstate -- one-5', recorded('domstate-shut-off'))
      .reply('domuuid -- one-5', recorded('domuuid'))
      .reply(() => true, {});

    const result = await deploy(ctx, { host: 'node1', domainXml: XML, deploymentFile: FILE });

    expect(result.created).toBe(true);
    expect(runner.commands()).toEqual([
      `${VIRSH} domstate -- one-5`,
      WRITE,
      `${VIRSH} create -- ${FILE}`,
      `${VIRSH} domuuid -- one-5`,
    ]);
  });

  it.each([
    ['running', recorded('domstate-running')],
    ['paused', recorded('domstate-paused')],
  ])('does not create a domain that is already %s: returns its UUID', async (_state, reply) => {
    const { ctx, runner, logs } = createTestContext();
    runner.reply('domstate -- one-5', reply).reply('domuuid -- one-5', recorded('domuuid'));

    const result = await deploy(ctx, { host: 'node1', domainXml: XML, deploymentFile: FILE });

    expect(result).toEqual({ uuid: UUID, name: 'one-5', created: false });
    expect(runner.commands()).toEqual([`${VIRSH} domstate -- one-5`, `${VIRSH} domuuid -- one-5`]);
    expect(logs).toEqual([['I', 'domain one-5 already runs on node1; not creating it again']]);
  });

  it('quotes a deployment file path that needs it', async () => {
    const { ctx, runner } = createTestContext();
    runner
      .reply('domstate', recorded('domstate-missing', 'one-5'))
      .reply('domuuid', recorded('domuuid'))
      .reply(() => true, {});
    const file = "/var/lib/one/datastores/0/5/it's here.xml";

    await deploy(ctx, { host: 'node1', domainXml: XML, deploymentFile: file });

    expect(runner.commands().slice(1, 3)).toEqual([
      `LC_ALL=C timeout --kill-after=5s 60s sh -c '${WRITE_SCRIPT}' sh /var/lib/one/datastores/0/5 '/var/lib/one/datastores/0/5/it'\\''s here.xml' ${Buffer.byteLength(XML)}`,
      `${VIRSH} create -- '/var/lib/one/datastores/0/5/it'\\''s here.xml'`,
    ]);
  });

  it.each([
    [
      'not well-formed XML',
      '<domain><name>one-5</name>',
      ParseError,
      /domain XML:1:1: <domain> is never closed/,
    ],
    [
      'no <name>',
      "<domain type='kvm'><memory>1</memory></domain>",
      OnevmmError,
      /<name> is missing or empty/,
    ],
    ['an empty <name>', '<domain><name>  </name></domain>', OnevmmError, /<name> is missing or empty/],
    [
      'another root element',
      '<VM><NAME>one-5</NAME></VM>',
      OnevmmError,
      /root element is <VM>, not <domain>/,
    ],
  ])('refuses %s before running anything', async (_what, xml, type, message) => {
    const { ctx, runner } = createTestContext();
    runner.reply(() => true, {});

    const failure = deploy(ctx, { host: 'node1', domainXml: xml, deploymentFile: FILE });

    await expect(failure).rejects.toThrow(message);
    await expect(failure).rejects.toBeInstanceOf(type);
    expect(runner.commands()).toEqual([]);
  });

  it('refuses a relative deployment file path before running anything', async () => {
    const { ctx, runner } = createTestContext();
    runner.reply(() => true, {});

    await expect(
      deploy(ctx, { host: 'node1', domainXml: XML, deploymentFile: 'datastores/0/5/deployment.0' }),
    ).rejects.toThrow(
      "deploy: the deployment file must be an absolute path, got 'datastores/0/5/deployment.0'",
    );
    expect(runner.commands()).toEqual([]);
  });

  it('stops at a failed create: no UUID is read and the error carries virsh’s message', async () => {
    const { ctx, runner } = createTestContext();
    runner
      .reply('domstate', recorded('domstate-missing', 'one-5'))
      .reply('create ', {
        exitCode: 1,
        stderr: `error: Failed to create domain from ${FILE}\nerror: Cannot access storage file '/var/lib/one//datastores/0/5/disk.0': No such file or directory\n`,
      })
      .reply(() => true, {});

    const failure = deploy(ctx, { host: 'node1', domainXml: XML, deploymentFile: FILE });

    await expect(failure).rejects.toBeInstanceOf(CommandError);
    await expect(failure).rejects.toThrow(
      `create domain failed on node1: exit code 1: error: Failed to create domain from ${FILE}; error: Cannot access storage file`,
    );
    expect(runner.commands()).toEqual([`${VIRSH} domstate -- one-5`, WRITE, `${VIRSH} create -- ${FILE}`]);
  });

  it('does not write or create anything when the host cannot be asked', async () => {
    const { ctx, runner } = createTestContext();
    runner.reply('domstate', recorded('libvirtd-down')).reply(() => true, {});

    await expect(deploy(ctx, { host: 'node1', domainXml: XML, deploymentFile: FILE })).rejects.toThrow(
      /failed to connect to the hypervisor/,
    );
    expect(runner.commands()).toEqual([`${VIRSH} domstate -- one-5`]);
  });

  it('does not write or create anything when ssh cannot reach the host', async () => {
    const { ctx, runner } = createTestContext();
    runner.reply(
      () => true,
      new TransportError({ host: 'node1', failure: 'connect' }, 'node1: connection refused'),
    );

    await expect(deploy(ctx, { host: 'node1', domainXml: XML, deploymentFile: FILE })).rejects.toBeInstanceOf(
      TransportError,
    );
    expect(runner.commands()).toEqual([`${VIRSH} domstate -- one-5`]);
  });

  it('fails when domuuid prints something that is not a UUID', async () => {
    const { ctx, runner } = createTestContext();
    runner.reply('domstate', recorded('domstate-running')).reply('domuuid', { stdout: 'one-5\n' });

    await expect(deploy(ctx, { host: 'node1', domainXml: XML, deploymentFile: FILE })).rejects.toThrow(
      "virsh domuuid one-5 on node1 printed 'one-5', not a UUID",
    );
  });
});

describe('readDomainName', () => {
  it('reads the trimmed <name> of a domain document', () => {
    expect(readDomainName("<?xml version='1.0'?>\n<domain>\n  <name>\n one-42 \n</name>\n</domain>")).toBe(
      'one-42',
    );
  });
});
