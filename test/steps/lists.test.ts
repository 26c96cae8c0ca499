// The step lists of oned's multi-step actions, run through the driver on payloads recorded from a
// real oned (test/fixtures/oned): the TM and VNM scripts in OpenNebula master's order, with its
// arguments, stdin and fail actions, and one LOG line per step.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FakeRunner, type FakeCall } from '../../src/host/fake-runner.js';
import { parseActionData } from '../../src/template/parse-action-data.js';
import { buildVnmMessage } from '../../src/steps/vnm-message.js';
import { createDriver, deferredReply, isStepLog, REMOTES, requestLine } from '../driver/helpers.js';

const FIXTURES = path.join(import.meta.dirname, '../fixtures/oned');
const fixture = (name: string): string => readFileSync(path.join(FIXTURES, name), 'utf8');
const DS0 = '/tmp/onevmm-one/var//datastores/0/1';
const DS100 = '/tmp/onevmm-one/var//datastores/100/2';
const UUID_1 = '655e6750-3357-4eca-a1dd-197027e834d7';
const UUID_2 = '4e8934f7-7740-400c-a4c4-6ff973095465';
const H1 = '10.77.0.11';
const H2 = '10.77.0.12';

// The network drivers' stdin for a payload: base64 of the reduced VM, as OpenNebula sends it.
function vnmStdin(payload: string): string {
  const vmXml = parseActionData(payload, { file: 'payload' }).vmXml ?? '';
  return `${Buffer.from(buildVnmMessage(vmXml).xml).toString('base64')}\n`;
}

// Matches the calls of one step of onevmm's actions, by its name.
const step =
  (name: string) =>
  (call: FakeCall): boolean =>
    call.step.step === name;

const isDriverScript = (call: FakeCall): boolean => /\/(tm|vnm|datastore)\//.test(call.step.argv[0] ?? '');

interface Run {
  // Every line but the timing ones.
  readonly lines: string[];
  // The OpenNebula scripts run: "<host>: <argv>".
  readonly scripts: string[];
  readonly calls: FakeCall[];
}

async function run(
  action: string,
  vmid: number,
  payload: string,
  runner: FakeRunner,
  localFiles = {},
): Promise<Run> {
  const harness = createDriver({ runner, localFiles });
  harness.feed(requestLine(action, vmid, payload));
  await harness.driver.finish();
  return {
    lines: harness.lines.filter((line) => !line.startsWith('LOG D ')),
    scripts: runner.calls.filter(isDriverScript).map((call) => `${call.host}: ${call.step.argv.join(' ')}`),
    calls: runner.calls,
  };
}

const ok = (vmid: number, kind: string, action: string): string =>
  `LOG I ${vmid} Successfully execute ${kind} driver operation: ${action}.`;
const failed = (vmid: number, kind: string, action: string): string =>
  `LOG E ${vmid} Failed to execute ${kind} driver operation: ${action}.`;
const stepLines = (lines: string[]): string[] =>
  lines.filter((line) => isStepLog(line) || !line.startsWith('LOG '));

describe('DEPLOY (the payload and file oned wrote for VM 1, shared TM)', () => {
  const payload = fixture('shared-deploy.xml');
  const deploymentFile = fixture('shared-deployment.0');
  const files = { '/tmp/onevmm-one/var/vms/1/deployment.1': deploymentFile };
  const deployRunner = (): FakeRunner =>
    new FakeRunner({ fallback: {} })
      .reply('domstate', { exitCode: 1, stderr: "error: failed to get domain 'one-1'\n" })
      .reply('domuuid', { stdout: `${UUID_1}\n` });

  it('TM context, network pre, vm.xml/ds.xml/deployment file written and created, network post', async () => {
    const runner = deployRunner();
    const { lines, scripts, calls } = await run('DEPLOY', 1, payload, runner, files);

    expect(lines).toEqual([
      ok(1, 'transfer manager', 'tm_context'),
      ok(1, 'network', 'pre'),
      ok(1, 'virtualization', 'deploy'),
      ok(1, 'network', 'post'),
      `DEPLOY SUCCESS 1 ${UUID_1}`,
    ]);
    expect(scripts).toEqual([
      `front-end: ${REMOTES}/tm/shared/context /tmp/onevmm-one/var/vms/1/context.sh ${H1}:${DS0}/disk.1 1 0`,
      `${H1}: /var/tmp/one/vnm/bridge/pre`,
      `${H1}: /var/tmp/one/vnm/bridge/post ${UUID_1} ${H1}`,
    ]);
    expect(calls.filter(isDriverScript)[1]?.step.stdin).toBe(vnmStdin(payload));
    const data = parseActionData(payload, { file: 'payload' });
    const write = calls.find((call) => call.step.step.startsWith('write deployment file'));
    expect(write?.step.argv.slice(4)).toEqual([
      DS0,
      `${DS0}/deployment.1`,
      String(Buffer.byteLength(deploymentFile)),
      `${DS0}/vm.xml`,
      String(Buffer.byteLength(data.vmXml ?? '')),
      `${DS0}/ds.xml`,
      String(Buffer.byteLength(data.datastoreXml ?? '')),
    ]);
    expect(write?.step.stdin).toBe(`${deploymentFile}${data.vmXml ?? ''}${data.datastoreXml ?? ''}`);
    expect(calls.find((call) => call.step.step === 'create domain')?.step.argv.at(-1)).toBe(
      `${DS0}/deployment.1`,
    );
  });

  it('a failing network post cancels the new domain (by its UUID) and cleans the network', async () => {
    const runner = deployRunner().reply('vnm/bridge/post', { exitCode: 1, stderr: 'Cannot add br0 rules\n' });
    const { lines, scripts, calls } = await run('DEPLOY', 1, payload, runner, files);

    expect(stepLines(lines)).toEqual([
      ok(1, 'transfer manager', 'tm_context'),
      ok(1, 'network', 'pre'),
      ok(1, 'virtualization', 'deploy'),
      ok(1, 'virtualization', 'cancel'),
      ok(1, 'network', 'clean'),
      failed(1, 'network', 'post'),
      `DEPLOY FAILURE 1 post (bridge) failed on ${H1} (exit code 1): Cannot add br0 rules`,
    ]);
    expect(lines).toContain('LOG E 1 Cannot add br0 rules');
    expect(scripts.slice(-2)).toEqual([
      `${H1}: /var/tmp/one/vnm/bridge/post ${UUID_1} ${H1}`,
      `${H1}: /var/tmp/one/vnm/bridge/clean ${H1}`,
    ]);
    expect(calls.map((call) => call.step.argv.join(' '))).toContain(
      `virsh --connect qemu:///system destroy -- ${UUID_1}`,
    );
  });

  it('a failing TM context ends it before anything runs on the host', async () => {
    const runner = deployRunner().reply('/tm/shared/context', {
      exitCode: 1,
      stderr: 'mkisofs: not found\n',
    });
    const { lines, calls } = await run('DEPLOY', 1, payload, runner, files);

    expect(lines.at(-1)).toBe(
      'DEPLOY FAILURE 1 tm_context (shared/context) failed on the front-end (exit code 1): mkisofs: not found',
    );
    expect(calls.filter((call) => call.host !== 'front-end')).toEqual([]);
  });
});

describe('MIGRATE (VM 2, ssh TM)', () => {
  const payload = fixture('ssh-migrate.xml');
  const tmArgs = `${H1} ${H2} ${DS100} 2 100`;

  it('premigrate, pre on the destination, the migration, clean on the source, post there, postmigrate', async () => {
    const runner = new FakeRunner({ fallback: {} }).reply('migrate domain', new Error('stop here'));
    const stop = await run('MIGRATE', 2, payload, runner);
    // the migration itself is onevmm's transaction (tested in test/actions/migrate.test.ts): here
    // it fails at once, and OpenNebula's failmigrate runs
    expect(stop.scripts).toEqual([
      `front-end: ${REMOTES}/tm/ssh/premigrate ${tmArgs}`,
      `${H2}: /var/tmp/one/vnm/bridge/pre`,
      `front-end: ${REMOTES}/tm/ssh/failmigrate ${tmArgs}`,
    ]);
    const vmBase64 = Buffer.from(parseActionData(payload, { file: 'p' }).vmXml ?? '').toString('base64');
    expect(stop.calls.filter(isDriverScript).map((call) => call.step.stdin)).toEqual([
      vmBase64,
      vnmStdin(payload),
      vmBase64,
    ]);
    expect(stepLines(stop.lines).at(-2)).toBe(failed(2, 'virtualization', 'migrate'));
  });

  it('runs every step after a successful migration, and their failures do not fail it (no_fail)', async () => {
    const state: Record<string, string> = { [H1]: 'running', [H2]: 'absent' };
    const runner = new FakeRunner({ fallback: {} })
      .reply('vnm/bridge/clean', { exitCode: 1, stderr: 'bridge busy\n' })
      .reply(
        (call) => call.step.step === 'read domain state',
        (call) =>
          state[call.host] === 'absent'
            ? { exitCode: 1, stderr: `error: failed to get domain '${UUID_2}'\n` }
            : { stdout: `${state[call.host] ?? ''}\n` },
      )
      .reply(
        (call) => call.step.step === 'migrate domain',
        () => {
          state[H1] = 'absent';
          state[H2] = 'running';
          return {};
        },
      )
      .reply('dumpxml', { stdout: '<domain><devices></devices></domain>' });
    const { lines, scripts } = await run(
      'MIGRATE',
      2,
      payload.replace('<SHARED><![CDATA[NO]]>', '<SHARED><![CDATA[YES]]>'),
      runner,
    );

    expect(scripts).toEqual([
      `front-end: ${REMOTES}/tm/ssh/premigrate ${tmArgs}`,
      `${H2}: /var/tmp/one/vnm/bridge/pre`,
      `${H1}: /var/tmp/one/vnm/bridge/clean ${H1}`,
      `${H2}: /var/tmp/one/vnm/bridge/post ${UUID_2} ${H1}`,
      `front-end: ${REMOTES}/tm/ssh/postmigrate ${tmArgs}`,
    ]);
    expect(stepLines(lines)).toEqual([
      ok(2, 'transfer manager', 'tm_premigrate'),
      ok(2, 'network', 'pre'),
      ok(2, 'virtualization', 'migrate'),
      failed(2, 'network', 'clean'),
      ok(2, 'network', 'post'),
      ok(2, 'transfer manager', 'tm_postmigrate'),
      'MIGRATE SUCCESS 2 -',
    ]);
  });

  it('without TM_COMMAND (not from oned), migrates with the network steps only', async () => {
    const runner = new FakeRunner({ fallback: {} }).reply(step('migrate domain'), new Error('stop here'));
    const payloadWithoutTm = payload.replace(/<TM_COMMAND>.*?<\/TM_COMMAND>/s, '<TM_COMMAND/>');
    const { scripts, lines } = await run('MIGRATE', 2, payloadWithoutTm, runner);

    expect(scripts).toEqual([`${H2}: /var/tmp/one/vnm/bridge/pre`]);
    expect(lines.at(-1)).toMatch(/^MIGRATE FAILURE 2 /);
  });

  it('a failing premigrate runs failmigrate and nothing else', async () => {
    const runner = new FakeRunner({ fallback: {} }).reply('/tm/ssh/premigrate', {
      exitCode: 1,
      stderr: 'ERROR: premigrate: Command "rm -rf" failed\nError removing target path\n',
    });
    const { lines, scripts } = await run('MIGRATE', 2, payload, runner);

    expect(scripts).toEqual([
      `front-end: ${REMOTES}/tm/ssh/premigrate ${tmArgs}`,
      `front-end: ${REMOTES}/tm/ssh/failmigrate ${tmArgs}`,
    ]);
    expect(lines.at(-1)).toBe(
      'MIGRATE FAILURE 2 tm_premigrate (ssh/premigrate) failed on the front-end (exit code 1): Error removing target path',
    );
  });
});

describe('ATTACHDISK and DETACHDISK (VM 2, ssh system datastore)', () => {
  const disk = `${DS100}/disk.2`;

  it('attach: TM clone first, then the disk from DISK_TARGET_PATH; a failed attach runs the TM rollback', async () => {
    const payload = fixture('ssh-attachdisk.xml');
    const runner = new FakeRunner({ fallback: {} })
      .reply(step('list disks'), { stdout: ' Target   Source\n----\n sdb  x\n' })
      .reply(step('attach disk'), { exitCode: 1, stderr: 'error: unsupported configuration: bus scsi\n' });
    const { lines, scripts, calls } = await run('ATTACHDISK', 2, payload, runner);

    expect(scripts).toEqual([
      `front-end: ${REMOTES}/tm/shared/clone.ssh vm:/tmp/onevmm-one/var//datastores/1/973773653c9b2e6aef82c45b21a07dab ${H2}:${disk} 2 1`,
      `front-end: ${REMOTES}/tm/shared/delete ${H2}:${disk} 2 1`,
    ]);
    expect(calls.find((call) => call.step.step === 'attach disk')?.step.stdin).toContain(
      `<source file='${disk}'/>`,
    );
    expect(stepLines(lines)).toEqual([
      ok(2, 'transfer manager', 'tm_attach'),
      ok(2, 'transfer manager', 'tm_detach'),
      failed(2, 'virtualization', 'attach_disk'),
      expect.stringMatching(
        /^ATTACHDISK FAILURE 2 attach disk failed on 10\.77\.0\.12: exit code 1: error: unsupported/,
      ),
    ]);
  });

  it('detach: the disk goes, then the TM epilog', async () => {
    const runner = new FakeRunner({ fallback: {} });
    const { lines, scripts } = await run('DETACHDISK', 2, fixture('ssh-detachdisk.xml'), runner);

    expect(scripts).toEqual([`front-end: ${REMOTES}/tm/shared/delete ${H2}:${disk} 2 1`]);
    expect(stepLines(lines)).toEqual([
      ok(2, 'virtualization', 'detach_disk'),
      ok(2, 'transfer manager', 'tm_detach'),
      'DETACHDISK SUCCESS 2 -',
    ]);
  });
});

// VM 1's NIC hot-plug, a NIC or a PCI NIC alike: the steps' log lines and reply, the TM context.
const ATTACHNIC_STEPS = [
  ok(1, 'network', 'pre'),
  ok(1, 'virtualization', 'attach_nic'),
  ok(1, 'network', 'post'),
  ok(1, 'virtualization', 'prereconfigure'),
  ok(1, 'transfer manager', 'tm_context'),
  ok(1, 'virtualization', 'reconfigure'),
  'ATTACHNIC SUCCESS 1 -',
];
const DETACHNIC_STEPS = [
  ok(1, 'virtualization', 'detach_nic'),
  ok(1, 'network', 'clean'),
  ok(1, 'virtualization', 'prereconfigure'),
  ok(1, 'transfer manager', 'tm_context'),
  ok(1, 'virtualization', 'reconfigure'),
  'DETACHNIC SUCCESS 1 -',
];
const context = `${REMOTES}/tm/shared/context /tmp/onevmm-one/var/vms/1/context.sh ${H2}:${DS0}/disk.1 1 0`;

describe('ATTACHNIC and DETACHNIC (VM 1): the NIC, its network, then a new context CD-ROM', () => {
  it('attach: pre, the NIC, post, eject, TM context, insert', async () => {
    const payload = fixture('shared-attachnic.xml');
    const mac =
      /<NIC>(?:(?!<\/NIC>).)*<ATTACH><!\[CDATA\[YES\]\]><\/ATTACH>(?:(?!<\/NIC>).)*<MAC><!\[CDATA\[([0-9a-f:]+)\]\]>/s.exec(
        payload,
      )?.[1];
    const runner = new FakeRunner({ fallback: {} })
      .reply(
        step('list interfaces'),
        { stdout: ' Interface Type Source Model MAC\n---\n' },
        {
          stdout: ` Interface Type Source Model MAC\n---\n one-1-1 bridge br0 virtio ${mac ?? ''}\n`,
        },
      )
      .reply(step('list disks'), { stdout: ` Target Source\n---\n sda ${DS0}/disk.1\n` })
      .reply(step('check image'), { stdout: 'file\n' });
    const { lines, scripts, calls } = await run('ATTACHNIC', 1, payload, runner);

    expect(stepLines(lines)).toEqual(ATTACHNIC_STEPS);
    expect(scripts).toEqual([
      `${H2}: /var/tmp/one/vnm/bridge/pre`,
      `${H2}: /var/tmp/one/vnm/bridge/post ${UUID_1} ${H2}`,
      `front-end: ${context}`,
    ]);
    const media = calls
      .filter((call) => call.step.argv.includes('change-media'))
      .map((c) => c.step.argv.slice(3));
    expect(media).toEqual([
      ['change-media', '--eject', '--force', '--', UUID_1, 'sda'],
      ['change-media', '--insert', '--', UUID_1, 'sda', `${DS0}/disk.1`],
    ]);
  });

  it('detach: the NIC, clean, eject, TM context, insert', async () => {
    const runner = new FakeRunner({ fallback: {} })
      .reply(step('list interfaces'), { stdout: ' Interface Type Source Model MAC\n---\n' })
      .reply(step('list disks'), { stdout: ` Target Source\n---\n sda -\n` })
      .reply(step('check image'), { stdout: 'file\n' });
    const { lines, scripts } = await run('DETACHNIC', 1, fixture('shared-detachnic.xml'), runner);

    expect(stepLines(lines)).toEqual(DETACHNIC_STEPS);
    expect(scripts).toEqual([`${H2}: /var/tmp/one/vnm/bridge/clean ${H2}`, `front-end: ${context}`]);
  });
});

// A NIC passed through (PCI[TYPE=NIC]): no PCI hardware on the testbed, so the recorded ATTACHNIC
// and DETACHNIC payloads with their NIC[ATTACH=YES] turned into the PCI entry oned writes for a NIC
// on an SR-IOV network.
describe('ATTACHNIC and DETACHNIC of a PCI NIC (VM 1, payloads edited)', () => {
  const cdata = (fields: Record<string, string>): string =>
    Object.entries(fields)
      .map(([key, value]) => `<${key}><![CDATA[${value}]]></${key}>`)
      .join('');
  const pci = cdata({
    ATTACH: 'YES',
    TYPE: 'NIC',
    MAC: '02:00:c0:a8:4f:70',
    NETWORK_ID: '0',
    NIC_ID: '1',
    PCI_ID: '0',
    VN_MAD: 'bridge',
    BRIDGE: 'br0',
    DOMAIN: '0000',
    BUS: '05',
    SLOT: '02',
    FUNCTION: '0',
    SHORT_ADDRESS: '05:02.0',
    ADDRESS: '0000:05:02.0',
    VM_DOMAIN: '0x0000',
    VM_BUS: '0x01',
    VM_SLOT: '0x01',
    VM_FUNCTION: '0',
  });
  const asPci = (payload: string): string => {
    const edited = payload.replace(
      /<NIC>(?:(?!<\/NIC>).)*<ATTACH><!\[CDATA\[YES\]\]><\/ATTACH>(?:(?!<\/NIC>).)*<\/NIC>/s,
      `<PCI>${pci}</PCI>`,
    );
    expect(edited).not.toBe(payload);
    return edited;
  };
  const hostdev =
    "<hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0000' bus='0x05' slot='0x02' function='0x0'/></source><alias name='hostdev0'/></hostdev>";
  const domainXml = (...devices: string[]): { stdout: string } => ({
    stdout: `<domain type='kvm'><name>one-1</name><devices><controller type='pci' index='0' model='pci-root'><alias name='pci.0'/></controller>${devices.join('')}</devices></domain>`,
  });

  it('attach: pre, the device as <hostdev>, post, eject, TM context, insert', async () => {
    const runner = new FakeRunner({ fallback: {} })
      .reply(step('read domain'), domainXml(), domainXml(hostdev))
      .reply(step('is it a virtual function'), { stdout: 'pf\n' })
      .reply(step('list disks'), { stdout: ` Target Source\n---\n sda ${DS0}/disk.1\n` })
      .reply(step('check image'), { stdout: 'file\n' });
    const { lines, scripts, calls } = await run(
      'ATTACHNIC',
      1,
      asPci(fixture('shared-attachnic.xml')),
      runner,
    );

    expect(stepLines(lines)).toEqual(ATTACHNIC_STEPS);
    expect(scripts).toEqual([
      `${H2}: /var/tmp/one/vnm/bridge/pre`,
      `${H2}: /var/tmp/one/vnm/bridge/post ${UUID_1} ${H2}`,
      `front-end: ${context}`,
    ]);
    const attach = calls.find(step('attach PCI device'));
    expect(attach?.step.argv.slice(3)).toEqual([
      'attach-device',
      '--live',
      '--file',
      '/dev/stdin',
      '--',
      UUID_1,
    ]);
    // no pci.1 bus in this domain: libvirt places the device
    expect(attach?.step.stdin).toBe(
      "<hostdev mode='subsystem' type='pci' managed='yes'>\n\t<source>\n\t\t<address domain='0x0000' bus='0x05' slot='0x02' function='0x0'/>\n\t</source>\n</hostdev>\n",
    );
    // the PCI NIC reaches the network drivers in their VM document
    const pre = calls.find((call) => call.step.argv[0] === '/var/tmp/one/vnm/bridge/pre');
    expect(Buffer.from(String(pre?.step.stdin), 'base64').toString()).toContain('<PCI>');
  });

  it('attach: a failing post unplugs the device again', async () => {
    const runner = new FakeRunner({ fallback: {} })
      .reply(step('read domain'), domainXml(), domainXml(hostdev), domainXml(hostdev), domainXml())
      .reply(step('is it a virtual function'), { stdout: 'pf\n' })
      .reply((call) => call.step.argv[0] === '/var/tmp/one/vnm/bridge/post', {
        exitCode: 1,
        stderr: 'ERROR: VF VLAN could not be set\n',
      });
    const { lines, calls } = await run('ATTACHNIC', 1, asPci(fixture('shared-attachnic.xml')), runner);

    expect(lines.at(-1)).toBe(
      'ATTACHNIC FAILURE 1 post (bridge) failed on 10.77.0.12 (exit code 1): VF VLAN could not be set',
    );
    expect(
      calls
        .filter((call) => /^(attach|detach)-device$/.test(call.step.argv[3] ?? ''))
        .map((c) => c.step.step),
    ).toEqual(['attach PCI device', 'detach PCI device']);
  });

  it('detach: the device as libvirt has it, clean, eject, TM context, insert', async () => {
    const runner = new FakeRunner({ fallback: {} })
      .reply(step('read domain'), domainXml(hostdev), domainXml())
      .reply(step('list disks'), { stdout: ` Target Source\n---\n sda -\n` })
      .reply(step('check image'), { stdout: 'file\n' });
    const { lines, scripts, calls } = await run(
      'DETACHNIC',
      1,
      asPci(fixture('shared-detachnic.xml')),
      runner,
    );

    expect(stepLines(lines)).toEqual(DETACHNIC_STEPS);
    expect(scripts).toEqual([`${H2}: /var/tmp/one/vnm/bridge/clean ${H2}`, `front-end: ${context}`]);
    expect(calls.find(step('detach PCI device'))?.step.stdin).toContain("<alias name='hostdev0'/>");
  });
});

describe('SAVE, RESTORE, SHUTDOWN, SNAPSHOTREVERT (VM 1)', () => {
  it('SAVE: the checkpoint, then clean', async () => {
    const { lines, scripts } = await run(
      'SAVE',
      1,
      fixture('shared-save.xml'),
      new FakeRunner({ fallback: {} }),
    );

    expect(stepLines(lines)).toEqual([
      ok(1, 'virtualization', 'save'),
      ok(1, 'network', 'clean'),
      'SAVE SUCCESS 1 -',
    ]);
    expect(scripts).toEqual([`${H2}: /var/tmp/one/vnm/bridge/clean ${H2}`]);
  });

  it('RESTORE: TM context, pre, the checkpoint, post', async () => {
    const runner = new FakeRunner({ fallback: {} }).reply(step('read checkpoint XML'), {
      stdout: `<domain><name>one-1</name><devices><disk><source file='${DS0}/disk.0'/></disk></devices></domain>`,
    });
    const { lines, scripts } = await run('RESTORE', 1, fixture('shared-restore.xml'), runner);

    expect(stepLines(lines)).toEqual([
      ok(1, 'transfer manager', 'tm_context'),
      ok(1, 'network', 'pre'),
      ok(1, 'virtualization', 'restore'),
      ok(1, 'network', 'post'),
      'RESTORE SUCCESS 1 -',
    ]);
    expect(scripts.slice(1)).toEqual([
      `${H2}: /var/tmp/one/vnm/bridge/pre`,
      `${H2}: /var/tmp/one/vnm/bridge/post ${UUID_1} ${H2}`,
    ]);
  });

  it('SHUTDOWN: the guest powers off, then clean', async () => {
    const runner = new FakeRunner({ fallback: {} }).reply(step('read domain state'), {
      exitCode: 1,
      stderr: `error: failed to get domain '${UUID_1}'\n`,
    });
    const { lines, scripts } = await run('SHUTDOWN', 1, fixture('shared-shutdown.xml'), runner);

    expect(stepLines(lines)).toEqual([
      ok(1, 'virtualization', 'shutdown'),
      ok(1, 'network', 'clean'),
      'SHUTDOWN SUCCESS 1 -',
    ]);
    expect(scripts).toEqual([`${H2}: /var/tmp/one/vnm/bridge/clean ${H2}`]);
  });

  it('SNAPSHOTREVERT: the revert (named as OpenNebula names it), then post', async () => {
    const runner = new FakeRunner({ fallback: {} }).reply(step('list snapshots'), { stdout: 'snap-0\n' });
    const { lines, scripts } = await run('SNAPSHOTREVERT', 1, fixture('shared-snapshotrevert.xml'), runner);

    expect(stepLines(lines)).toEqual([
      ok(1, 'virtualization', 'SNAPSHOTREVERT'),
      ok(1, 'network', 'post'),
      'SNAPSHOTREVERT SUCCESS 1 -',
    ]);
    expect(scripts).toEqual([`${H2}: /var/tmp/one/vnm/bridge/post ${UUID_1} ${H2}`]);
  });
});

describe('CLEANUP, RESIZEDISK and UPDATECONF (payloads edited from recorded ones)', () => {
  it('CLEANUP: cancel and clean on both hosts, one TM DELETE per line, every step no_fail', async () => {
    const payload = fixture('shared-shutdown.xml')
      .replace('<MIGR_HOST/>', `<MIGR_HOST>${H1}</MIGR_HOST>`)
      .replace(
        '<TM_COMMAND/>',
        `<TM_COMMAND><![CDATA[DELETE shared ${H2}:${DS0}/disk.0 1 0\nDELETE shared ${H2}:${DS0} 1 0\n]]></TM_COMMAND>`,
      );
    const runner = new FakeRunner({ fallback: {} })
      .reply(step('read domain state'), { exitCode: 1, stderr: `error: failed to get domain '${UUID_1}'\n` })
      .reply(`/tm/shared/delete ${H2}:${DS0}/disk.0`, { exitCode: 1, stderr: 'no such file\n' });
    const { lines, scripts, calls } = await run('CLEANUP', 1, payload, runner);

    expect(scripts).toEqual([
      `${H2}: /var/tmp/one/vnm/bridge/clean ${H2}`,
      `${H1}: /var/tmp/one/vnm/bridge/clean ${H2}`,
      `front-end: ${REMOTES}/tm/shared/delete ${H2}:${DS0}/disk.0 1 0`,
      `front-end: ${REMOTES}/tm/shared/delete ${H2}:${DS0} 1 0`,
    ]);
    expect(calls.filter((call) => call.step.step === 'destroy domain').map((call) => call.host)).toEqual([
      H2,
      H1,
    ]);
    expect(lines.at(-1)).toBe('CLEANUP SUCCESS 1 -');
    expect(lines).toContain(failed(1, 'transfer manager', 'tm_delete'));
  });

  it('RESIZEDISK: TM resize, then the disk', async () => {
    const payload = fixture('shared-detachdisk.xml')
      .replace('<ATTACH><![CDATA[YES]]></ATTACH>', '<RESIZE><![CDATA[YES]]></RESIZE>')
      .replace(/<SIZE><!\[CDATA\[16\]\]><\/SIZE>/, '<SIZE><![CDATA[64]]></SIZE>')
      .replace(
        /<TM_COMMAND>.*?<\/TM_COMMAND>/s,
        `<TM_COMMAND><![CDATA[RESIZE shared 64 ${H2}:${DS0}/disk.2 1 1]]></TM_COMMAND>`,
      );
    const runner = new FakeRunner({ fallback: {} }).reply(step('read disk size'), {
      stdout: 'Capacity:       16777216\nAllocation:     0\nPhysical:       196616\n',
    });
    const { lines, scripts, calls } = await run('RESIZEDISK', 1, payload, runner);

    expect(scripts).toEqual([`front-end: ${REMOTES}/tm/shared/resize 64 ${H2}:${DS0}/disk.2 1 1`]);
    expect(stepLines(lines)).toEqual([
      ok(1, 'transfer manager', 'tm_resize'),
      ok(1, 'virtualization', 'resize_disk'),
      'RESIZEDISK SUCCESS 1 -',
    ]);
    expect(calls.some((call) => call.step.argv.includes('blockresize'))).toBe(true);
  });

  it('UPDATECONF: eject, TM context, insert', async () => {
    const payload = fixture('shared-attachnic.xml').replace('<ATTACH><![CDATA[YES]]></ATTACH>', '');
    const runner = new FakeRunner({ fallback: {} })
      .reply(step('list disks'), { stdout: ` Target Source\n---\n sda ${DS0}/disk.1\n` })
      .reply(step('check image'), { stdout: 'file\n' });
    const { lines, scripts } = await run('UPDATECONF', 1, payload, runner);

    expect(stepLines(lines)).toEqual([
      ok(1, 'virtualization', 'prereconfigure'),
      ok(1, 'transfer manager', 'tm_context'),
      ok(1, 'virtualization', 'reconfigure'),
      'UPDATECONF SUCCESS 1 -',
    ]);
    expect(scripts).toEqual([
      `front-end: ${REMOTES}/tm/shared/context /tmp/onevmm-one/var/vms/1/context.sh ${H2}:${DS0}/disk.1 1 0`,
    ]);
  });
});

describe("issue 10's step lists (payloads recorded from a real oned, VMs 83 and 85)", () => {
  const DS83 = '/tmp/onevmm-kit-one/var//datastores/0/83';
  const K1 = '10.77.2.11';

  it('UPDATESG: the network driver update_sg; the reply starts with the security group id, on FAILURE too', async () => {
    const payload = fixture('shared-updatesg.xml');
    const ok83 = await run('UPDATESG', 83, payload, new FakeRunner({ fallback: {} }));
    expect(ok83.scripts).toEqual([
      `${K1}: /var/tmp/one/vnm/bridge/update_sg 7d355728-3d62-4a82-9cf0-62c662966201`,
    ]);
    expect(ok83.lines.at(-1)).toBe('UPDATESG SUCCESS 83 0 bridge: -');

    const failing = new FakeRunner({ fallback: {} }).reply('update_sg', {
      exitCode: 1,
      stderr: 'iptables: no chain\n',
    });
    const bad = await run('UPDATESG', 83, payload, failing);
    expect(bad.lines.at(-1)).toBe(
      `UPDATESG FAILURE 83 0 update_sg (bridge) failed on ${K1} (exit code 1): iptables: no chain`,
    );
  });

  it('UPDATENIC: update_nic with the whole VM (base64) on stdin; the reply starts with the network id', async () => {
    const payload = fixture('shared-updatenic.xml');
    const runner = new FakeRunner({ fallback: {} });
    const { scripts, lines, calls } = await run('UPDATENIC', 85, payload, runner);

    expect(scripts).toEqual([
      `${K1}: /var/tmp/one/vnm/bridge/update_nic 4f1d6f40-16f0-4e73-8464-16b769b226cc 0`,
    ]);
    const vm = parseActionData(payload, { file: 'p' }).vmXml ?? '';
    expect(calls.find(isDriverScript)?.step.stdin).toBe(`${Buffer.from(vm).toString('base64')}\n`);
    expect(lines.at(-1)).toBe('UPDATENIC SUCCESS 85 0 bridge: -');
    const missing = await run(
      'UPDATENIC',
      85,
      payload.replace(/<VIRTUAL_NETWORK_ID>.*?<\/VIRTUAL_NETWORK_ID>/, ''),
      new FakeRunner(),
    );
    expect(missing.lines).toEqual([
      'UPDATENIC FAILURE 85 Cannot perform UPDATENIC, expecting VIRTUAL_NETWORK_ID',
    ]);
  });

  it('UPDATENIC for a network the VM has no NIC in: FAILURE with the network id first, nothing run', async () => {
    const payload = fixture('shared-updatenic.xml').replace(
      '<VIRTUAL_NETWORK_ID>0</VIRTUAL_NETWORK_ID>',
      '<VIRTUAL_NETWORK_ID>7</VIRTUAL_NETWORK_ID>',
    );
    const runner = new FakeRunner();
    const { lines } = await run('UPDATENIC', 85, payload, runner);
    expect(lines).toEqual([
      `UPDATENIC FAILURE 85 7 VM 85 has no NIC in virtual network 7: update_nic not run on ${K1}`,
    ]);
    expect(runner.calls).toEqual([]);
  });

  it('DISKSNAPSHOTCREATE: the TM command with _LIVE for a kvm-shared disk, else OpenNebula refuses', async () => {
    const payload = fixture('shared-disksnapshotcreate.xml');
    const { scripts, lines } = await run('DISKSNAPSHOTCREATE', 83, payload, new FakeRunner({ fallback: {} }));
    expect(scripts).toEqual([`front-end: ${REMOTES}/tm/shared/snap_create_live ${K1}:${DS83}/disk.0 0 83 1`]);
    expect(stepLines(lines)).toEqual([
      ok(83, 'transfer manager', 'tm_snap_create_live'),
      'DISKSNAPSHOTCREATE SUCCESS 83 -',
    ]);

    const onCeph = payload.replace(
      /(<DISK_SNAPSHOT_ACTIVE>.*?)<TM_MAD><!\[CDATA\[shared\]\]><\/TM_MAD>/s,
      '$1<TM_MAD><![CDATA[nfs]]></TM_MAD>',
    );
    const refused = await run('DISKSNAPSHOTCREATE', 83, onCeph, new FakeRunner());
    expect(refused.lines).toEqual([
      'DISKSNAPSHOTCREATE FAILURE 83 Cannot perform a live DISKSNAPSHOTCREATE operation',
    ]);
  });

  it('BACKUP of a running VM: prebackup_live, the datastore backup, postbackup_live; the reply is the datastore driver', async () => {
    const payload = fixture('shared-backup.xml');
    const data = parseActionData(payload, { file: 'p' });
    const runner = new FakeRunner({ fallback: {} }).reply('/datastore/rsync/backup', {
      stdout: '7dbafc 1 raw\n',
    });
    const { scripts, lines, calls } = await run('BACKUP', 83, payload, runner);
    const args = `${K1}:${DS83} 0 7d355728-3d62-4a82-9cf0-62c662966201 - 83 0`;

    expect(scripts).toEqual([
      `front-end: ${REMOTES}/tm/shared/prebackup_live ${args}`,
      `front-end: ${REMOTES}/datastore/rsync/backup ${args}`,
      `front-end: ${REMOTES}/tm/shared/postbackup_live ${args}`,
    ]);
    const stdins = calls.filter(isDriverScript).map((call) => call.step.stdin);
    expect(stdins[0]).toBe(data.vmXml);
    expect(stdins[1]).toBe(
      `<DS_DRIVER_ACTION_DATA>\n  ${data.datastoreXml ?? ''}\n  ${data.vmXml ?? ''}\n</DS_DRIVER_ACTION_DATA>\n`,
    );
    expect(lines.at(-1)).toBe('BACKUP SUCCESS 83 7dbafc 1 raw');
  });

  it('BACKUP that fails: the TM cleans up with BACKUP_RESULT=FAILURE in the VM', async () => {
    const runner = new FakeRunner({ fallback: {} }).reply('/datastore/rsync/backup', {
      exitCode: 1,
      stderr: 'rsync: No space left on device\n',
    });
    const { scripts, lines, calls } = await run('BACKUP', 83, fixture('shared-backup.xml'), runner);

    expect(scripts.map((s) => s.split(' ')[1])).toEqual([
      `${REMOTES}/tm/shared/prebackup_live`,
      `${REMOTES}/datastore/rsync/backup`,
      `${REMOTES}/tm/shared/postbackup_live`,
    ]);
    expect(calls.filter(isDriverScript)[2]?.step.stdin).toMatch(
      /<BACKUP_RESULT>FAILURE<\/BACKUP_RESULT><\/VM>$/,
    );
    expect(lines.at(-1)).toBe(
      'BACKUP FAILURE 83 backup (rsync/backup) failed on the front-end (exit code 1): rsync: No space left on device',
    );
  });

  it('BACKUPCANCEL: the datastore driver backup_cancel, beside the running BACKUP of the same VM', async () => {
    const hold = deferredReply();
    const runner = new FakeRunner({ fallback: {} }).reply('/tm/shared/prebackup_live', hold.reply);
    const harness = createDriver({ runner });
    harness.feed(
      requestLine('BACKUP', 85, fixture('shared-backup.xml')),
      requestLine('BACKUPCANCEL', 85, fixture('shared-backupcancel.xml')),
    );
    await harness.waitFor('BACKUPCANCEL SUCCESS 85');
    expect(runner.calls.filter(isDriverScript).map((call) => call.step.argv.join(' '))).toEqual([
      `${REMOTES}/tm/shared/prebackup_live ${K1}:${DS83} 0 7d355728-3d62-4a82-9cf0-62c662966201 - 83 0`,
      `${REMOTES}/datastore/rsync/backup_cancel ${K1}:/tmp/onevmm-kit-one/var//datastores/0/85 4f1d6f40-16f0-4e73-8464-16b769b226cc`,
    ]);
    hold.release({ exitCode: 1, stderr: 'Live prebackup cancelled\n' });
    await harness.driver.finish();
    expect(harness.replies().at(-1)).toMatch(
      /^BACKUP FAILURE 85 prebackup_live \(shared\/prebackup_live\) failed on the front-end/,
    );
  });

  it('UPDATECONF and NIC aliases: the context steps; an alias has only its network steps besides', async () => {
    const runner = (): FakeRunner =>
      new FakeRunner({ fallback: {} })
        .reply(step('list disks'), { stdout: ` Target Source\n---\n hda ${DS83}/disk.1\n` })
        .reply(step('check image'), { stdout: 'file\n' });
    const conf = await run('UPDATECONF', 83, fixture('shared-updateconf.xml'), runner());
    expect(stepLines(conf.lines)).toEqual([
      ok(83, 'virtualization', 'prereconfigure'),
      ok(83, 'transfer manager', 'tm_context'),
      ok(83, 'virtualization', 'reconfigure'),
      'UPDATECONF SUCCESS 83 -',
    ]);
    const attach = await run('ATTACHNIC', 83, fixture('shared-attachnic-alias.xml'), runner());
    expect(stepLines(attach.lines)).toEqual([
      ok(83, 'network', 'pre'),
      ok(83, 'network', 'post'),
      ok(83, 'virtualization', 'prereconfigure'),
      ok(83, 'transfer manager', 'tm_context'),
      ok(83, 'virtualization', 'reconfigure'),
      'ATTACHNIC SUCCESS 83 -',
    ]);
    expect(attach.calls.some((call) => call.step.step === 'attach NIC')).toBe(false);
    const detach = await run('DETACHNIC', 83, fixture('shared-detachnic-alias.xml'), runner());
    expect(stepLines(detach.lines)).toEqual([
      ok(83, 'network', 'clean'),
      ok(83, 'virtualization', 'prereconfigure'),
      ok(83, 'transfer manager', 'tm_context'),
      ok(83, 'virtualization', 'reconfigure'),
      'DETACHNIC SUCCESS 83 -',
    ]);
  });
});

describe('EXEC and EXEC_CANCEL (VM 87, payloads recorded from a real oned)', () => {
  it('EXEC: guest-exec on one-<vmid> (DEPLOY_ID is the UUID), the pid file for the monitor, reply -', async () => {
    const runner = new FakeRunner().reply('qemu-agent-command', { stdout: '{"return":{"pid":178}}\n' });
    const { lines, calls } = await run('EXEC', 87, fixture('shared-exec.xml'), runner);
    expect(lines).toEqual(['EXEC SUCCESS 87 -']);
    expect(calls.map((call) => [call.host, ...call.step.argv.slice(4)])).toEqual([
      [
        '10.77.2.12',
        '/var/run/one',
        '87',
        'virsh',
        '--connect',
        'qemu:///system',
        'qemu-agent-command',
        '--timeout',
        '10',
        '--',
        'one-87',
        '{"execute":"guest-exec","arguments":{"path":"sleep","arg":["100"],"capture-output":true,"input-data":"aW4gcHV0"}}',
      ],
    ]);
  });

  it('EXEC with the agent down: one FAILURE naming the host, the step and libvirt', async () => {
    const runner = new FakeRunner().reply('qemu-agent-command', {
      exitCode: 1,
      stderr: 'error: Guest agent is not responding: QEMU guest agent is not connected\n',
    });
    const { lines } = await run('EXEC', 87, fixture('shared-exec.xml'), runner);
    expect(lines.filter((line) => !line.startsWith('LOG'))).toHaveLength(1);
    expect(lines.at(-1)).toBe(
      'EXEC FAILURE 87 guest-exec failed on 10.77.2.12: exit code 1: error: Guest agent is not responding: QEMU guest agent is not connected',
    );
  });

  it('EXEC with a command that cannot be split runs nothing', async () => {
    const runner = new FakeRunner();
    const payload = fixture('shared-exec.xml').replace('<![CDATA[sleep 100]]>', "<![CDATA[sh -c 'x]]>");
    const { lines } = await run('EXEC', 87, payload, runner);
    expect(lines).toEqual([
      "EXEC FAILURE 87 the command cannot be split into words (Got EOF while in a quoted string): sh -c 'x",
    ]);
    expect(runner.calls).toEqual([]);
  });

  it('EXEC_CANCEL: the cancel script for VM 87 on its host', async () => {
    const runner = new FakeRunner().reply('.exec-lock', { stdout: '178\n' });
    const { lines, calls } = await run('EXEC_CANCEL', 87, fixture('shared-exec-cancel.xml'), runner);
    expect(lines).toEqual(['EXEC_CANCEL SUCCESS 87 -']);
    expect(calls.map((call) => [call.host, ...call.step.argv.slice(4)])).toEqual([
      ['10.77.2.12', '/var/run/one', '87', 'qemu:///system', 'one-87', '10'],
    ]);
  });
});
