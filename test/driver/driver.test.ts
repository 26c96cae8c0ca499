// Transcript tests of the protocol driver: request lines in, the exact reply lines out, with a
// FakeRunner standing in for the hosts.
import { describe, expect, it } from 'vitest';
import { withRetries } from '../../src/host/retrying-runner.js';
import { TransportError } from '../../src/host/errors.js';
import { FakeRunner } from '../../src/host/fake-runner.js';
import { getSingle } from '../../src/template/model.js';
import { parseActionData } from '../../src/template/parse-action-data.js';
import { translateVm } from '../../src/translate/translate-vm.js';
import { readVirshFixture, recorded, VIRSH, WRITE_SCRIPT } from '../actions/helpers.js';
import {
  actionData,
  base64,
  createDriver,
  deferredReply,
  DEPLOY_42_XML,
  DEPLOY_FILE_42,
  flush,
  hangUntilAborted,
  ONED_FILES_42,
  ONED_XML_42,
  requestLine,
  scriptDeploy42,
  SHIPPED_DEFAULTS,
  until,
  UUID_42,
} from './helpers.js';

const NODE1_42 = actionData({ host: 'node1', deployId: 'one-42' });
const CHECKPOINT_7 = '/var/lib/one//datastores/0/7/checkpoint';
const DATA_42 = parseActionData(DEPLOY_42_XML, { file: 'deploy-42.xml' });
const DIR_42 = '/var/lib/one//datastores/100/42';
// The write step of a DEPLOY of VM 42: the deployment file, vm.xml and ds.xml (by byte count).
const write42 = (domainXml: string): string =>
  `LC_ALL=C timeout --kill-after=5s 60s sh -c '${WRITE_SCRIPT}' sh ${DIR_42} ${DEPLOY_FILE_42} ${Buffer.byteLength(domainXml)} ${DIR_42}/vm.xml ${Buffer.byteLength(DATA_42.vmXml ?? '')} ${DIR_42}/ds.xml ${Buffer.byteLength(DATA_42.datastoreXml ?? '')}`;
const TM_CONTEXT_42 = `LC_ALL=C timeout --kill-after=5s 3600s /var/lib/one/remotes/tm/shared/context /var/lib/one/vms/42/context.sh node2:${DIR_42}/disk.2 42 100`;
const failed = (vmid: number, action: string): string =>
  `LOG E ${vmid} Failed to execute virtualization driver operation: ${action}.`;
const ok = (
  vmid: number,
  driver: 'virtualization' | 'network' | 'transfer manager',
  action: string,
): string => `LOG I ${vmid} Successfully execute ${driver} driver operation: ${action}.`;
// The LOG lines of a DEPLOY of VM 42 whose steps all succeed.
const DEPLOY_STEPS_42 = [
  ok(42, 'transfer manager', 'tm_context'),
  ok(42, 'network', 'pre'),
  ok(42, 'virtualization', 'deploy'),
  ok(42, 'network', 'post'),
];

// A command line without its LC_ALL and time limits (their values belong to the action tests).
function withoutLimits(command: string): string {
  return command.replace(/^LC_ALL=C timeout --kill-after=\S+ \S+ /, '');
}

// Feeds the lines to a fresh driver, waits for every action, returns everything written.
async function transcript(
  runner: FakeRunner,
  lines: readonly string[],
  options: Parameters<typeof createDriver>[0] = {},
): Promise<string[]> {
  const harness = createDriver({ ...options, runner });
  harness.feed(...lines);
  await harness.driver.finish();
  // The timing lines of the steps (LOG D) vary from run to run; step-lists.test.ts checks them.
  return harness.lines.filter((line) => !line.startsWith('LOG D '));
}

describe('Driver: handshake', () => {
  it('answers INIT with "INIT SUCCESS - -" and nothing else', () => {
    const { feed, lines } = createDriver();

    expect(feed('INIT')).toBe('continue');
    expect(lines).toEqual(['INIT SUCCESS - -']);
  });

  it('writes nothing for an empty line', () => {
    const { feed, lines } = createDriver();

    feed('', '   ', '\r');
    expect(lines).toEqual([]);
  });
});

describe('Driver: DEPLOY', () => {
  it("runs OpenNebula's steps: TM context, network pre, the file oned wrote created on the host, network post", async () => {
    const runner = scriptDeploy42(new FakeRunner());

    const lines = await transcript(runner, ['INIT', requestLine('DEPLOY', 42, DEPLOY_42_XML)], {
      localFiles: ONED_FILES_42,
    });

    expect(lines).toEqual(['INIT SUCCESS - -', ...DEPLOY_STEPS_42, `DEPLOY SUCCESS 42 ${UUID_42}`]);
    expect(runner.commands('front-end')).toEqual([TM_CONTEXT_42]);
    expect(runner.commands('node2')).toEqual([
      `LC_ALL=C timeout --kill-after=5s 60s /var/tmp/one/vnm/bridge/pre`,
      `${VIRSH} domstate -- one-42`,
      write42(ONED_XML_42),
      `${VIRSH} create -- ${DEPLOY_FILE_42}`,
      `${VIRSH} domuuid -- one-42`,
      `LC_ALL=C timeout --kill-after=5s 60s /var/tmp/one/vnm/bridge/post ${UUID_42} node2`,
    ]);
    expect(runner.calls).toHaveLength(7);
    // The deployment file, then vm.xml and ds.xml as oned wrote them, on one stdin.
    expect(runner.calls[3]?.step.stdin).toBe(
      `${ONED_XML_42}${DATA_42.vmXml ?? ''}${DATA_42.datastoreXml ?? ''}`,
    );
  });

  it('with DEPLOYMENT_SOURCE=onevmm, sends its own translation on stdin of the write step, and only there', async () => {
    const runner = scriptDeploy42(new FakeRunner());
    await transcript(runner, [requestLine('DEPLOY', 42, DEPLOY_42_XML)], {
      vars: { DEPLOYMENT_SOURCE: 'onevmm' },
    });

    const data = parseActionData(DEPLOY_42_XML, { file: 'deploy-42.xml' });
    const expected = translateVm(data.vm!, {
      defaults: SHIPPED_DEFAULTS,
      domainType: 'kvm',
      deploymentTime: 1_718_900_000,
      systemDatastoreDiskType: getSingle(data.datastore!.template, 'DISK_TYPE'),
    }).xml;
    const write = runner.calls.find((call) => call.step.step.startsWith('write deployment file'));
    expect(write?.command).toBe(write42(expected));
    const stdin = write?.step.stdin;
    expect(stdin).toBe(`${expected}${DATA_42.vmXml ?? ''}${DATA_42.datastoreXml ?? ''}`);
    expect(stdin).toMatch(/^<domain type='kvm'/);
    expect(stdin).toContain('<name>one-42</name>');
    expect(stdin).toContain(`<uuid>${UUID_42}</uuid>`);
    // Besides it only the network drivers get stdin (the VM for them, base64).
    expect(
      runner.calls.filter((call) => call.step.stdin !== undefined).map((call) => call.step.step),
    ).toEqual(['pre (bridge)', 'write deployment file, vm.xml, ds.xml', 'post (bridge)']);
    expect(runner.commands().join('\n')).not.toContain('<domain');
  });

  it('returns the UUID of a domain that already runs, without creating it again (with a LOG line)', async () => {
    const runner = new FakeRunner()
      .reply('domstate -- one-42', recorded('domstate-running'))
      .reply('domuuid -- one-42', { stdout: `${UUID_42}\n` });

    const lines = await transcript(runner, [requestLine('DEPLOY', 42, DEPLOY_42_XML)], {
      localFiles: ONED_FILES_42,
    });

    expect(lines).toEqual([
      ...DEPLOY_STEPS_42.slice(0, 2),
      'LOG I 42 domain one-42 already runs on node2; not creating it again',
      ...DEPLOY_STEPS_42.slice(2),
      `DEPLOY SUCCESS 42 ${UUID_42}`,
    ]);
    expect(runner.commands('node2').filter((c) => c.includes('virsh'))).toEqual([
      `${VIRSH} domstate -- one-42`,
      `${VIRSH} domuuid -- one-42`,
    ]);
  });

  // OpenNebula's Ruby driver loses the reply here (reference §2.6): ours must not.
  it('with no deployment file (DEPLOYMENT_SOURCE=oned), replies FAILURE naming the file before any step', async () => {
    const runner = new FakeRunner();
    const lines = await transcript(runner, [requestLine('DEPLOY', 42, DEPLOY_42_XML)], { localFiles: {} });

    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^DEPLOY FAILURE 42 Cannot open deployment file \/var\/lib\/one\/vms\/42\/deployment\.1: /,
    );
    expect(runner.calls).toEqual([]);
  });

  it('with an empty deployment file, replies FAILURE as OpenNebula words it', async () => {
    const lines = await transcript(new FakeRunner(), [requestLine('DEPLOY', 42, DEPLOY_42_XML)], {
      localFiles: { '/var/lib/one/vms/42/deployment.1': '\n' },
    });

    expect(lines).toEqual(['DEPLOY FAILURE 42 Cannot open deployment file /var/lib/one/vms/42/deployment.1']);
  });

  it("replies FAILURE naming the step, the host and libvirt's message when `virsh create` fails", async () => {
    const runner = new FakeRunner()
      .reply('domstate -- one-42', recorded('domstate-missing', 'one-42'))
      .reply("sh -c 'dir=", {})
      .reply(`create -- ${DEPLOY_FILE_42}`, {
        exitCode: 1,
        stderr: `error: Failed to create domain from ${DEPLOY_FILE_42}\nerror: Cannot access storage file '/var/lib/one//datastores/100/42/disk.0': No such file or directory\n`,
      });

    const lines = await transcript(runner, [requestLine('DEPLOY', 42, DEPLOY_42_XML)], {
      localFiles: ONED_FILES_42,
    });

    const message = `create domain failed on node2: exit code 1: error: Failed to create domain from ${DEPLOY_FILE_42}; error: Cannot access storage file '/var/lib/one//datastores/100/42/disk.0': No such file or directory`;
    expect(lines).toEqual([
      ...DEPLOY_STEPS_42.slice(0, 2),
      // the fail action of deploy: the network is cleaned up again
      ok(42, 'network', 'clean'),
      'LOG E 42 Failed to execute virtualization driver operation: deploy.',
      `DEPLOY FAILURE 42 ${message}`,
    ]);
    expect(runner.commands('node2').at(-1)).toBe(
      'LC_ALL=C timeout --kill-after=5s 60s /var/tmp/one/vnm/bridge/clean node2',
    );
  });
});

describe('Driver: other actions', () => {
  it('SHUTDOWN: power button, polls the state, SUCCESS once the domain is gone', async () => {
    const runner = new FakeRunner()
      .reply(
        'domstate -- one-42',
        recorded('domstate-running'),
        recorded('domstate-running'),
        recorded('domstate-missing', 'one-42'),
      )
      .reply('shutdown -- one-42', recorded('shutdown-running', 'one-42'));

    const lines = await transcript(runner, [requestLine('SHUTDOWN', 42, NODE1_42)]);

    expect(lines).toEqual([
      ok(42, 'virtualization', 'shutdown'),
      ok(42, 'network', 'clean'),
      'SHUTDOWN SUCCESS 42 -',
    ]);
    expect(runner.commands('node1')).toEqual([
      `${VIRSH} domstate -- one-42`,
      `${VIRSH} shutdown -- one-42`,
      `${VIRSH} domstate -- one-42`,
      `${VIRSH} domstate -- one-42`,
    ]);
  });

  it('SHUTDOWN of a domain that is already gone succeeds at once', async () => {
    const runner = new FakeRunner().reply('domstate -- one-42', recorded('domstate-missing', 'one-42'));

    expect(await transcript(runner, [requestLine('SHUTDOWN', 42, NODE1_42)])).toEqual([
      ok(42, 'virtualization', 'shutdown'),
      ok(42, 'network', 'clean'),
      'SHUTDOWN SUCCESS 42 -',
    ]);
  });

  it('SHUTDOWN uses one-<vmid> when the payload has no DEPLOY_ID', async () => {
    const runner = new FakeRunner().reply('domstate -- one-9', recorded('domstate-missing', 'one-9'));

    expect(await transcript(runner, [requestLine('SHUTDOWN', 9, actionData({ host: 'node1' }))])).toEqual([
      ok(9, 'virtualization', 'shutdown'),
      ok(9, 'network', 'clean'),
      'SHUTDOWN SUCCESS 9 -',
    ]);
  });

  it('CANCEL: virsh destroy, checks the domain is gone', async () => {
    const runner = new FakeRunner()
      .reply('destroy -- one-42', recorded('destroy-running', 'one-42'))
      .reply('domstate -- one-42', recorded('domstate-missing', 'one-42'));

    expect(await transcript(runner, [requestLine('CANCEL', 42, NODE1_42)])).toEqual([
      ok(42, 'virtualization', 'cancel'),
      ok(42, 'network', 'clean'),
      'CANCEL SUCCESS 42 -',
    ]);
    // The VM has no NIC with a VN_MAD: the network step runs no script.
    expect(runner.commands()).toEqual([`${VIRSH} destroy -- one-42`, `${VIRSH} domstate -- one-42`]);
  });

  it('CANCEL of a domain libvirt does not know succeeds', async () => {
    const runner = new FakeRunner()
      .reply('destroy -- one-42', recorded('destroy-missing', 'one-42'))
      .reply('domstate -- one-42', recorded('domstate-missing', 'one-42'));

    expect(await transcript(runner, [requestLine('CANCEL', 42, NODE1_42)])).toEqual([
      ok(42, 'virtualization', 'cancel'),
      ok(42, 'network', 'clean'),
      'CANCEL SUCCESS 42 -',
    ]);
  });

  it.each([
    ['REBOOT', 'reboot'],
    ['RESET', 'reset'],
  ])('%s: one `virsh %s`', async (action, command) => {
    const runner = new FakeRunner().reply(`${command} -- one-42`, {
      stdout: `Domain 'one-42' is being ${command}\n`,
    });

    expect(await transcript(runner, [requestLine(action, 42, NODE1_42)])).toEqual([
      ok(42, 'virtualization', command),
      `${action} SUCCESS 42 -`,
    ]);
    expect(runner.commands('node1')).toEqual([`${VIRSH} ${command} -- one-42`]);
  });

  it('SAVE: moves an old checkpoint aside, then `virsh save`', async () => {
    const runner = new FakeRunner()
      .reply('prepare', {})
      .reply(`save -- one-42 ${CHECKPOINT_7}`, { stdout: `Domain 'one-42' saved to ${CHECKPOINT_7}\n` })
      .reply(() => true, {});

    const lines = await transcript(runner, [
      requestLine(
        'SAVE',
        42,
        actionData({ host: 'node1', deployId: 'one-42', checkpointFile: CHECKPOINT_7 }),
      ),
    ]);

    expect(lines).toEqual([
      ok(42, 'virtualization', 'save'),
      ok(42, 'network', 'clean'),
      'SAVE SUCCESS 42 -',
    ]);
    expect(runner.calls.map((call) => call.step.step)).toEqual(['prepare checkpoint file', 'save domain']);
    expect(runner.commands().map(withoutLimits)[1]).toBe(
      `virsh --connect qemu:///system save -- one-42 ${CHECKPOINT_7}`,
    );
  });

  it('SAVE without CHECKPOINT_FILE fails at once, naming the field', async () => {
    const runner = new FakeRunner();

    expect(await transcript(runner, [requestLine('SAVE', 42, NODE1_42)])).toEqual([
      'SAVE FAILURE 42 Cannot perform SAVE, expecting CHECKPOINT_FILE',
    ]);
    expect(runner.calls).toEqual([]);
  });

  it('RESTORE: reads the checkpoint XML, writes it back relocated, restores, removes the checkpoint', async () => {
    const runner = new FakeRunner()
      .reply('save-image-dumpxml', { stdout: readVirshFixture('test-driver-save-image-dumpxml-one-7.out') })
      .reply(() => true, {});

    const lines = await transcript(runner, [
      requestLine(
        'RESTORE',
        7,
        actionData({ host: 'node1', deployId: 'one-7', checkpointFile: CHECKPOINT_7, vmId: 7 }),
      ),
    ]);

    expect(lines).toEqual([
      ok(7, 'network', 'pre'),
      ok(7, 'virtualization', 'restore'),
      ok(7, 'network', 'post'),
      'RESTORE SUCCESS 7 -',
    ]);
    expect(runner.commands().map(withoutLimits)).toEqual([
      `virsh --connect qemu:///system save-image-dumpxml -- ${CHECKPOINT_7}`,
      `sh -c 'cat > "$2" || exit 1; for f in "$1"/snap-*.xml; do [ -f "$f" ] && printf "%s\\n" "$f"; done; exit 0' sh /var/lib/one//datastores/0/7 ${CHECKPOINT_7}.xml`,
      `virsh --connect qemu:///system restore --xml ${CHECKPOINT_7}.xml -- ${CHECKPOINT_7}`,
      `rm -f -- ${CHECKPOINT_7} ${CHECKPOINT_7}.xml`,
      'virsh --connect qemu:///system domtime --sync -- one-7',
    ]);
    expect(runner.calls[1]?.step.stdin).toContain('<name>one-7</name>');
  });

  it('POLL: one `virsh domstats`, the poll line as info', async () => {
    const runner = new FakeRunner().reply('domstats', {
      stdout: readVirshFixture('qemu-domstats-one-5.out'),
    });

    const lines = await transcript(runner, [
      requestLine('POLL', 5, actionData({ host: 'node1', deployId: 'one-5' })),
    ]);

    expect(lines).toEqual([
      'POLL SUCCESS 5 STATE=a CPU=0 MEMORY=428316 NETRX=19156625 NETTX=1372180 DISKRDBYTES=272944128 DISKWRBYTES=38805504 DISKRDIOPS=10053 DISKWRIOPS=2117',
    ]);
    expect(runner.commands()).toEqual([
      `${VIRSH} domstats --state --cpu-total --balloon --interface --block --nowait -- one-5`,
    ]);
  });

  it('POLL of a domain libvirt does not know: STATE=d', async () => {
    const runner = new FakeRunner().reply('domstats', recorded('domstats-missing', 'one-5'));

    expect(
      await transcript(runner, [requestLine('POLL', 5, actionData({ host: 'node1', deployId: 'one-5' }))]),
    ).toEqual(['POLL SUCCESS 5 STATE=d']);
  });

  it('POLL of a host whose libvirtd is down: FAILURE, never "all VMs off"', async () => {
    const runner = new FakeRunner().reply('domstats', recorded('libvirtd-down'));

    expect(
      await transcript(runner, [requestLine('POLL', 5, actionData({ host: 'node1', deployId: 'one-5' }))]),
    ).toEqual([
      "POLL FAILURE 5 read domain statistics failed on node1: exit code 1: error: failed to connect to the hypervisor; error: Failed to connect socket to '/var/run/libvirt/libvirt-sock': No such file or directory",
    ]);
  });

  it('CLEANUP: destroys a running domain, logs it, succeeds', async () => {
    const runner = new FakeRunner()
      .reply('destroy -- one-42', recorded('destroy-running', 'one-42'))
      .reply('domstate -- one-42', recorded('domstate-missing', 'one-42'));

    expect(await transcript(runner, [requestLine('CLEANUP', 42, NODE1_42)])).toEqual([
      ok(42, 'virtualization', 'cancel'),
      ok(42, 'network', 'clean'),
      'CLEANUP SUCCESS 42 -',
    ]);
  });
});

describe('Driver: failures', () => {
  it("a failing virsh gives one FAILURE line naming host, step and libvirt's message, without ExitCode markers", async () => {
    const runner = new FakeRunner().reply('reboot -- one-42', {
      exitCode: 1,
      stdout: '\n',
      stderr:
        "error: Failed to reboot domain 'one-42'\nerror: Requested operation is not valid: domain is not running\n",
    });

    const lines = await transcript(runner, [requestLine('REBOOT', 42, NODE1_42)]);

    expect(lines).toEqual([
      failed(42, 'reboot'),
      "REBOOT FAILURE 42 reboot domain failed on node1: exit code 1: error: Failed to reboot domain 'one-42'; error: Requested operation is not valid: domain is not running",
    ]);
    expect(lines.join('\n')).not.toMatch(/ExitCode|ExitSSHCode/);
  });

  it('a host that cannot be reached gives FAILURE naming the host', async () => {
    const runner = new FakeRunner().reply(
      () => true,
      new TransportError(
        { host: 'node1', failure: 'connect', step: 'reset domain' },
        'cannot connect to node1 port 22: connect ECONNREFUSED 10.0.0.1:22',
      ),
    );

    expect(await transcript(runner, [requestLine('RESET', 42, NODE1_42)])).toEqual([
      failed(42, 'reset'),
      'RESET FAILURE 42 cannot connect to node1 port 22: connect ECONNREFUSED 10.0.0.1:22',
    ]);
  });

  it('an unexpected exception inside an action still gets exactly one FAILURE', async () => {
    const runner = new FakeRunner().reply(() => true, new TypeError('boom\nat somewhere'));

    expect(await transcript(runner, [requestLine('REBOOT', 42, NODE1_42)])).toEqual([
      failed(42, 'reboot'),
      'REBOOT FAILURE 42 internal error: boom; at somewhere',
    ]);
  });

  it.each(['CHECKPOINT', 'DISKSNAPSHOTREVERT', 'FOO'])(
    'replies "%s FAILURE <vmid> unsupported action" for an action it does not know',
    async (action) => {
      const runner = new FakeRunner();

      expect(await transcript(runner, [requestLine(action, 42, NODE1_42)])).toEqual([
        `${action} FAILURE 42 unsupported action`,
      ]);
      expect(runner.calls).toEqual([]);
    },
  );

  it.each([
    // OpenNebula's own words where its driver checks the payload.
    ['MIGRATE', 'Cannot perform MIGRATE, expecting MIGR_HOST'],
    ['ATTACHDISK', 'Cannot perform ATTACHDISK, expecting TM_COMMAND'],
    ['DETACHDISK', 'Cannot perform DETACHDISK, expecting TM_COMMAND'],
    ['ATTACHNIC', 'Missing VN_MAD, BRIDGE, TARGET or MAC in VM NIC'],
    ['DETACHNIC', 'Error in DETACHNIC, MAC needed in NIC'],
    ['SNAPSHOTCREATE', 'SNAPSHOT[ACTIVE=YES]: VM 42 has no active SNAPSHOT'],
    [
      'SNAPSHOTREVERT',
      "Cannot perform SNAPSHOTREVERT, expecting VM/TEMPLATE/SNAPSHOT[ACTIVE='YES']/HYPERVISOR_ID",
    ],
    ['SNAPSHOTDELETE', 'SNAPSHOT[ACTIVE=YES]: VM 42 has no active SNAPSHOT'],
    ['RESIZEDISK', 'Cannot perform RESIZEDISK, expecting TM_COMMAND'],
  ])('%s without what it needs in the payload: FAILURE at once, no host command', async (action, reason) => {
    const runner = new FakeRunner();

    expect(await transcript(runner, [requestLine(action, 42, NODE1_42)])).toEqual([
      `${action} FAILURE 42 ${reason}`,
    ]);
    expect(runner.calls).toEqual([]);
  });

  it('RESIZE of a VM whose VCPU and MEMORY did not change: SUCCESS, no host command', async () => {
    const runner = new FakeRunner();

    expect(await transcript(runner, [requestLine('RESIZE', 42, NODE1_42)])).toEqual([
      'LOG I 42 resize of one-42 on node1: VCPU and MEMORY are unchanged; nothing to do',
      'RESIZE SUCCESS 42 -',
    ]);
    expect(runner.calls).toEqual([]);
  });

  it.each([
    [
      'bad base64',
      'DEPLOY 42 !!!not-base64!!!',
      'DEPLOY FAILURE 42 DEPLOY payload:1: payload is neither XML nor base64',
    ],
    [
      'base64 of text that is not XML',
      `DEPLOY 42 ${base64('hello world')}`,
      'DEPLOY FAILURE 42 DEPLOY payload:1: base64 payload does not decode to XML',
    ],
    [
      'base64 of bytes that are not UTF-8',
      `DEPLOY 42 ${Buffer.from([0x3c, 0xff, 0xfe, 0x3e]).toString('base64')}`,
      'DEPLOY FAILURE 42 DEPLOY payload:1: base64 payload does not decode to UTF-8 text',
    ],
    [
      'XML that is not well-formed',
      `SHUTDOWN 42 ${base64('<VMM_DRIVER_ACTION_DATA><HOST>node1</HOST>')}`,
      'SHUTDOWN FAILURE 42 SHUTDOWN payload:1:1: <VMM_DRIVER_ACTION_DATA> is never closed',
    ],
    ['no payload', 'REBOOT 42', 'REBOOT FAILURE 42 the request has no payload'],
    [
      'no HOST',
      requestLine('CANCEL', 42, actionData({ deployId: 'one-42' })),
      'CANCEL FAILURE 42 Cannot perform CANCEL, expecting HOST',
    ],
    [
      'an empty HOST',
      requestLine('CANCEL', 42, actionData({ host: '', deployId: 'one-42' })),
      'CANCEL FAILURE 42 Cannot perform CANCEL, expecting HOST',
    ],
  ])('replies FAILURE naming the problem: %s', async (_what, line, expected) => {
    const runner = new FakeRunner();

    expect(await transcript(runner, [line])).toEqual([expected]);
    expect(runner.calls).toEqual([]);
  });

  it('replies FAILURE naming the root element when the payload is XML of the wrong kind', async () => {
    const lines = await transcript(new FakeRunner(), [`DEPLOY 42 ${base64('<VM><ID>42</ID></VM>')}`]);

    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^DEPLOY FAILURE 42 DEPLOY payload.*expected root element <VMM_DRIVER_ACTION_DATA>, found <VM>$/,
    );
  });

  it('DEPLOY without REMOTE_DEPLOYMENT_FILE fails naming the field, before touching the host', async () => {
    const runner = new FakeRunner();
    const payload = DEPLOY_42_XML.replace(
      /<REMOTE_DEPLOYMENT_FILE>[^<]*<\/REMOTE_DEPLOYMENT_FILE>/,
      '<REMOTE_DEPLOYMENT_FILE/>',
    );

    expect(await transcript(runner, [requestLine('DEPLOY', 42, payload)])).toEqual([
      'DEPLOY FAILURE 42 Cannot perform DEPLOY, expecting REMOTE_DEPLOYMENT_FILE',
    ]);
    expect(runner.calls).toEqual([]);
  });

  it.each([
    ['no vmid', 'DEPLOY', 'LOG E -1 ignored a line that is not a request: DEPLOY without a VM id'],
    [
      'a vmid that is not a number',
      `SHUTDOWN abc ${base64(NODE1_42)}`,
      "LOG E -1 ignored a line that is not a request: SHUTDOWN: not a VM id: 'abc'",
    ],
    [
      'a lowercase action',
      'shutdown 42 x',
      "LOG E -1 ignored a line that is not a request: not an action name: 'shutdown'",
    ],
    [
      'junk',
      '\u0000\u0001garbage',
      "LOG E -1 ignored a line that is not a request: not an action name: '??garbage'",
    ],
  ])(
    'answers a line without a readable vmid (%s) with one "LOG E -1" line',
    async (_what, line, expected) => {
      expect(await transcript(new FakeRunner(), [line])).toEqual([expected]);
    },
  );

  it('answers a request with too many fields with FAILURE for its vmid', async () => {
    expect(await transcript(new FakeRunner(), ['DEPLOY  42 abc def'])).toEqual([
      'DEPLOY FAILURE 42 DEPLOY: 4 fields, expected 3',
    ]);
  });

  it('times out an action after -w seconds: FAILURE "timed out…", and its command is aborted', async () => {
    const runner = new FakeRunner().reply('reboot -- one-42', hangUntilAborted());
    const started = Date.now();

    const lines = await transcript(runner, [requestLine('REBOOT', 42, NODE1_42)], {
      args: '-t 15 -r 0 -w 1 kvm -p',
    });

    expect(lines).toEqual(['REBOOT FAILURE 42 timed out after 1 s (-w) on node1']);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(runner.calls[0]?.step.signal?.aborted).toBe(true);
  });

  it('an action that ends in time is not affected by -w', async () => {
    const runner = new FakeRunner().reply('reset -- one-42', {});

    expect(
      await transcript(runner, [requestLine('RESET', 42, NODE1_42)], { args: '-t 15 -r 0 -w 30 kvm' }),
    ).toEqual([ok(42, 'virtualization', 'reset'), 'RESET SUCCESS 42 -']);
  });
});

describe('Driver: DRIVER_CANCEL', () => {
  it('aborts a running SHUTDOWN: its command is killed, "SHUTDOWN FAILURE <id> cancelled" plus a LOG line', async () => {
    const runner = new FakeRunner()
      .reply('domstate -- one-42', recorded('domstate-running'))
      .reply('shutdown -- one-42', hangUntilAborted());
    const harness = createDriver({ runner });

    harness.feed(requestLine('SHUTDOWN', 42, NODE1_42));
    await until(() => runner.calls.length === 2);
    harness.feed('DRIVER_CANCEL  42 ');
    await harness.driver.finish();

    expect(harness.replies()).toEqual([
      'LOG I 42 Driver command for 42 cancelled (1 running, 0 queued)',
      'SHUTDOWN FAILURE 42 cancelled',
    ]);
    expect(runner.calls[1]?.step.signal?.aborted).toBe(true);
  });

  it('ends a long shutdown loop at once (the wait between polls is aborted)', async () => {
    const runner = new FakeRunner()
      .reply('domstate -- one-42', recorded('domstate-running'))
      .reply('shutdown -- one-42', recorded('shutdown-running', 'one-42'));
    const harness = createDriver({ runner, vars: { SHUTDOWN_TIMEOUT: '600' } });

    harness.feed(requestLine('SHUTDOWN', 42, NODE1_42));
    await until(() => runner.commands().filter((c) => c.includes('domstate')).length >= 3);
    const cancelledAt = Date.now();
    harness.feed('DRIVER_CANCEL  42 ');
    await harness.driver.finish();

    expect(Date.now() - cancelledAt).toBeLessThan(150);
    expect(harness.replies()).toEqual([
      'LOG I 42 Driver command for 42 cancelled (1 running, 0 queued)',
      'SHUTDOWN FAILURE 42 cancelled',
    ]);
    // Nothing runs for the VM after the reply.
    const calls = runner.calls.length;
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(runner.calls.length).toBe(calls);
  });

  it("drops the VM's queued actions (each gets FAILURE cancelled) and leaves other VMs alone", async () => {
    const hold = deferredReply();
    const runner = new FakeRunner()
      .reply('reboot -- one-42', hangUntilAborted())
      .reply('reboot -- one-43', hold.reply)
      .reply(() => true, {});
    const harness = createDriver({ runner, args: '-t 15 -r 0 kvm -p' });

    harness.feed(
      requestLine('REBOOT', 42, NODE1_42),
      requestLine('RESET', 42, NODE1_42),
      requestLine('CANCEL', 42, NODE1_42),
      requestLine('REBOOT', 43, actionData({ host: 'node1', deployId: 'one-43' })),
    );
    await flush();
    harness.feed('DRIVER_CANCEL  42 ');
    await flush();
    hold.release();
    await harness.driver.finish();

    expect(harness.replies()).toEqual([
      'RESET FAILURE 42 cancelled',
      'CANCEL FAILURE 42 cancelled',
      'LOG I 42 Driver command for 42 cancelled (1 running, 2 queued)',
      'REBOOT FAILURE 42 cancelled',
      'REBOOT SUCCESS 43 -',
    ]);
    expect(runner.commands().filter((c) => c.includes('one-42'))).toEqual([`${VIRSH} reboot -- one-42`]);
  });

  it('acknowledges a DRIVER_CANCEL for a VM with nothing running with one LOG line', async () => {
    expect(await transcript(new FakeRunner(), ['DRIVER_CANCEL  7 '])).toEqual([
      'LOG I 7 Driver command for 7 cancelled (0 running, 0 queued)',
    ]);
  });

  it("runs the VM's next action normally after a cancel", async () => {
    const runner = new FakeRunner()
      .reply('reboot -- one-42', hangUntilAborted())
      .reply('reset -- one-42', {});
    const harness = createDriver({ runner });

    harness.feed(requestLine('REBOOT', 42, NODE1_42));
    await flush();
    harness.feed('DRIVER_CANCEL  42 ', requestLine('RESET', 42, NODE1_42));
    await harness.driver.finish();

    expect(harness.replies().slice(1)).toEqual(['REBOOT FAILURE 42 cancelled', 'RESET SUCCESS 42 -']);
  });
});

describe('Driver: scheduling', () => {
  it("runs a VM's actions in arrival order", async () => {
    const first = deferredReply();
    const runner = new FakeRunner().reply('reboot -- one-42', first.reply).reply('reset -- one-42', {});
    const harness = createDriver({ runner });

    harness.feed(requestLine('REBOOT', 42, NODE1_42), requestLine('RESET', 42, NODE1_42));
    await flush();
    expect(runner.commands()).toEqual([`${VIRSH} reboot -- one-42`]);
    first.release();
    await harness.driver.finish();

    expect(harness.replies()).toEqual(['REBOOT SUCCESS 42 -', 'RESET SUCCESS 42 -']);
  });

  it('without -p, one action per host at a time; a stuck host does not delay others', async () => {
    const stuck = deferredReply();
    const runner = new FakeRunner().reply('reboot -- one-1', stuck.reply).reply(() => true, {});
    const harness = createDriver({ runner, args: '-t 15 -r 0 kvm' });

    harness.feed(
      requestLine('REBOOT', 1, actionData({ host: 'node1', deployId: 'one-1' })),
      requestLine('REBOOT', 2, actionData({ host: 'node1', deployId: 'one-2' })),
      requestLine('REBOOT', 3, actionData({ host: 'node2', deployId: 'one-3' })),
    );
    await harness.waitFor('REBOOT SUCCESS 3');
    expect(harness.replies()).toEqual(['REBOOT SUCCESS 3 -']);
    expect(runner.commands('node1')).toEqual([`${VIRSH} reboot -- one-1`]);
    stuck.release();
    await harness.driver.finish();

    expect(harness.replies()).toEqual(['REBOOT SUCCESS 3 -', 'REBOOT SUCCESS 1 -', 'REBOOT SUCCESS 2 -']);
  });

  it('with -p, actions of different VMs on one host run at once', async () => {
    const held = deferredReply();
    const runner = new FakeRunner().reply('reboot', held.reply);
    const harness = createDriver({ runner, args: '-t 15 -r 0 kvm -p' });

    harness.feed(
      requestLine('REBOOT', 1, actionData({ host: 'node1', deployId: 'one-1' })),
      requestLine('REBOOT', 2, actionData({ host: 'node1', deployId: 'one-2' })),
    );
    await flush();
    expect(held.calls).toBe(2);
    held.release();
    held.release();
    await harness.driver.finish();
  });

  it('-t limits the actions running at once', async () => {
    const held = deferredReply();
    const runner = new FakeRunner().reply('reboot', held.reply);
    const harness = createDriver({ runner, args: '-t 2 -r 0 kvm -p' });

    for (let id = 1; id <= 5; id++)
      harness.feed(requestLine('REBOOT', id, actionData({ host: `node${id}`, deployId: `one-${id}` })));
    await flush();
    expect(held.calls).toBe(2);
    expect(harness.driver.load).toEqual({ running: 2, queued: 3 });
    for (let done = 0; done < 5; done++) {
      await until(() => held.calls > done);
      held.release();
    }
    await harness.driver.finish();
    expect(harness.replies()).toHaveLength(5);
  });
});

describe('Driver: FINALIZE', () => {
  it('returns "finalize" and finish() resolves only after the running actions replied', async () => {
    const held = deferredReply();
    const runner = new FakeRunner().reply('reboot -- one-42', held.reply);
    const harness = createDriver({ runner });

    harness.feed(requestLine('REBOOT', 42, NODE1_42));
    await flush();
    expect(harness.feed('FINALIZE')).toBe('finalize');
    let linesWhenDone: string[] | undefined;
    const finished = harness.driver.finish().then(() => (linesWhenDone = [...harness.replies()]));
    await flush();
    expect(linesWhenDone).toBeUndefined();

    held.release();
    await finished;
    expect(linesWhenDone).toEqual(['REBOOT SUCCESS 42 -']);
  });

  it('answers requests that come after FINALIZE with FAILURE', () => {
    const harness = createDriver();

    harness.feed('FINALIZE', requestLine('REBOOT', 42, NODE1_42));
    expect(harness.replies()).toEqual(['REBOOT FAILURE 42 the driver is finalizing']);
  });

  it('finish() resolves at once when nothing runs', async () => {
    const harness = createDriver();
    harness.feed('FINALIZE');

    await expect(harness.driver.finish()).resolves.toBeUndefined();
  });
});

describe('Driver with -r (withRetries)', () => {
  // The connection broke mid-command: worth another try.
  const lost = (): TransportError =>
    new TransportError({ host: 'node1', failure: 'lost' }, 'connection to node1 lost: read ECONNRESET');
  // libvirtd restarting on the host: virsh's own words for a transport failure.
  const libvirtdDown = {
    exitCode: 1,
    stderr:
      "error: failed to connect to the hypervisor\nerror: Failed to connect socket to '/var/run/libvirt/libvirt-sock': Connection refused\n",
  };

  it.each([
    ['a lost connection', lost()],
    ['libvirtd restarting', libvirtdDown],
  ])('retries a transport failure (%s) and succeeds', async (_what, first) => {
    const runner = new FakeRunner().reply('reset -- one-42', first, {});

    const lines = await transcript(runner, [requestLine('RESET', 42, NODE1_42)], {
      wrapRunner: (fake) => withRetries(fake, 1, 1),
    });

    expect(lines).toEqual([ok(42, 'virtualization', 'reset'), 'RESET SUCCESS 42 -']);
    expect(runner.calls).toHaveLength(2);
  });

  it("never retries libvirt's own errors", async () => {
    const runner = new FakeRunner().reply('reset -- one-42', {
      exitCode: 1,
      stderr: "error: failed to get domain 'one-42'\n",
    });

    const lines = await transcript(runner, [requestLine('RESET', 42, NODE1_42)], {
      wrapRunner: (fake) => withRetries(fake, 3, 1),
    });

    expect(lines).toEqual([
      failed(42, 'reset'),
      "RESET FAILURE 42 reset domain failed on node1: exit code 1: error: failed to get domain 'one-42'",
    ]);
    expect(runner.calls).toHaveLength(1);
  });

  it('does not retry a host that refuses the connection (SSH_CONNECT_TIMEOUT already bounds it)', async () => {
    const runner = new FakeRunner().reply(
      'reset -- one-42',
      new TransportError(
        { host: 'node1', failure: 'connect' },
        'cannot connect to node1: connection refused',
      ),
    );

    const lines = await transcript(runner, [requestLine('RESET', 42, NODE1_42)], {
      wrapRunner: (fake) => withRetries(fake, 3, 1),
    });

    expect(lines).toEqual([
      failed(42, 'reset'),
      'RESET FAILURE 42 cannot connect to node1: connection refused',
    ]);
    expect(runner.calls).toHaveLength(1);
  });

  it('gives up after -r retries with the last error', async () => {
    const runner = new FakeRunner().reply('reset -- one-42', lost());

    const lines = await transcript(runner, [requestLine('RESET', 42, NODE1_42)], {
      wrapRunner: (fake) => withRetries(fake, 2, 1),
    });

    expect(lines).toEqual([
      failed(42, 'reset'),
      'RESET FAILURE 42 connection to node1 lost: read ECONNRESET',
    ]);
    expect(runner.calls).toHaveLength(3);
  });

  it('-r 0 leaves the runner as it is', () => {
    const runner = new FakeRunner();

    expect(withRetries(runner, 0)).toBe(runner);
  });

  it('does not retry a command that was cancelled, even when it ends with a transport error', async () => {
    // The killed channel surfaces as a lost connection, which alone would be retried.
    const runner = new FakeRunner().reply(
      'reboot -- one-42',
      (call) =>
        new Promise((resolve) =>
          call.step.signal?.addEventListener('abort', () =>
            resolve(new TransportError({ host: 'node1', failure: 'lost' }, 'connection to node1 lost')),
          ),
        ),
    );
    const harness = createDriver({ runner, wrapRunner: (fake) => withRetries(fake, 5) });

    harness.feed(requestLine('REBOOT', 42, NODE1_42));
    await flush();
    harness.feed('DRIVER_CANCEL  42 ');
    await harness.driver.finish();
    await new Promise((resolve) => setTimeout(resolve, 100));

    expect(harness.replies()[1]).toBe('REBOOT FAILURE 42 cancelled');
    expect(runner.calls).toHaveLength(1);
  });
});
