// The real-oned e2e suite's view of testbed/oned-kit.sh: a real oned (the shared/oned kit) with
// onevmm or OpenNebula's own driver as its VM_MAD, on a 2-host testbed of its own. XML-RPC to
// oned, the VM's state as oned reports it, the hosts' contents and the guests' serial consoles.
import { execFile, spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { XMLParser } from 'fast-xml-parser';
import { findOnedKit } from '../../helpers/oned-kit.js';
import { createOneRpc, type OneRpc } from './one-rpc.js';
import { waitForText } from './testbed.js';

const SCRIPT = fileURLToPath(new URL('../../../testbed/oned-kit.sh', import.meta.url));
export const KIT_TB = {
  dir: process.env['ONEVMM_KIT_TB_DIR'] ?? '/tmp/onevmm-kit',
  prefix: 'tk-h',
  net: '10.77.2',
};
export const ONE_LOCATION = process.env['ONEVMM_KIT_ONE_LOCATION'] ?? '/tmp/onevmm-kit-one';
const KIT_ENV = {
  TB_DIR: KIT_TB.dir,
  TB_NET: KIT_TB.net,
  TB_BR: 'tbkit0',
  TB_PREFIX: KIT_TB.prefix,
  ONE_LOCATION,
};

export type Driver = 'onevmm' | 'opennebula' | 'opennebula-local';

export interface KitHost {
  readonly index: number;
  readonly name: string; // tk-h1: the testbed host (namespaces, serial logs)
  readonly address: string; // 10.77.2.11: oned's name for it
  readonly id: number; // oned's host id
}

export interface Kit {
  readonly rpc: OneRpc;
  readonly hosts: readonly KitHost[];
  readonly ids: {
    readonly image: number;
    readonly dataImage: number;
    readonly vnet: number;
    readonly sshDatastore: number;
    readonly backupDatastore: number;
  };
  readonly pubkey: string;
  readonly guest: { readonly kernel: string; readonly initrd: string };
}

// Why the suite cannot run here, or undefined when it can.
export function kitMissing(): string | undefined {
  const kit = findOnedKit();
  return 'missing' in kit ? kit.missing : undefined;
}

// Brings oned up with `driver` (restarting it on the same DB if another one runs) and describes it.
export async function kitUp(driver: Driver): Promise<Kit> {
  try {
    await promisify(execFile)('bash', [SCRIPT, 'up', driver], {
      env: { ...process.env, ...KIT_ENV },
      timeout: 600_000,
      maxBuffer: 16 << 20,
    });
  } catch (error) {
    const e = error as Error & { stdout?: string; stderr?: string };
    throw new Error(`oned-kit.sh up ${driver} failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`, {
      cause: error,
    });
  }
  const ids = JSON.parse(readFileSync(`${ONE_LOCATION}/var/kit/ids.json`, 'utf8')) as Record<string, number>;
  const session = readFileSync(`${ONE_LOCATION}/one_auth`, 'utf8').trim();
  const hosts = [1, 2].map((index) => {
    const address = `${KIT_TB.net}.${10 + index}`;
    return { index, name: `${KIT_TB.prefix}${index}`, address, id: ids[`host:${address}`] ?? -1 };
  });
  const rpc = createOneRpc('http://127.0.0.1:2733/RPC2', session);
  await waitForHostMonitoring(rpc, hosts);
  return {
    rpc,
    hosts,
    ids: {
      image: ids['image:root'] ?? -1,
      dataImage: ids['image:data'] ?? -1,
      vnet: ids['vnet'] ?? -1,
      sshDatastore: Number(readFileSync(`${ONE_LOCATION}/var/kit/onevmm.ssh-ds`, 'utf8').trim()),
      backupDatastore: Number(readFileSync(`${ONE_LOCATION}/var/kit/onevmm.backup-ds`, 'utf8').trim()),
    },
    pubkey: readFileSync(`${KIT_TB.dir}/id_ed25519.pub`, 'utf8').trim(),
    guest: { kernel: `${KIT_TB.dir}/guest/vmlinuz`, initrd: `${KIT_TB.dir}/guest/initrd.gz` },
  };
}

// After oned (re)starts, its monitor takes up each host again only a minute or so later, and its
// first report is a full VM-state sync taken on the host before it is sent: a VM deployed meanwhile
// is reported missing, and oned turns it from RUNNING to POWEROFF ("VM running but monitor state is
// POWEROFF") while its domain runs on. Seen once in the OpenNebula-driver lives, right after the
// restart that switched drivers. So the lives start only once every host has been monitored since
// oned started (its MONITORING/TIMESTAMP), and that report has been taken in.
async function waitForHostMonitoring(
  rpc: OneRpc,
  hosts: readonly { id: number; name: string }[],
): Promise<void> {
  const started = Math.floor(statSync(`${ONE_LOCATION}/var/kit/oned.pid`).mtimeMs / 1000);
  const monitoredAt = async (id: number): Promise<number> =>
    Number(/<MONITORING><TIMESTAMP>(\d+)</.exec(String(await rpc.call('one.host.info', id)))?.[1] ?? 0);
  const deadline = Date.now() + 240_000;
  for (;;) {
    const times = await Promise.all(hosts.map((host) => monitoredAt(host.id)));
    if (times.every((time) => time >= started)) break;
    if (Date.now() > deadline)
      throw new Error(
        `oned started at ${started} has not monitored every host since: ${hosts.map((h, i) => `${h.name} ${times[i]}`).join(', ')}`,
      );
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
  await new Promise((resolve) => setTimeout(resolve, 3000));
}

// Runs a command in a kit host's namespaces; never throws.
export function kitHostRun(
  host: KitHost,
  argv: readonly string[],
): { status: number | null; stdout: string } {
  const ns = `${KIT_TB.dir}/ns/${host.name}`;
  const result = spawnSync(
    'nsenter',
    [`--net=/run/netns/${host.name}`, `--mount=${ns}.mnt`, `--uts=${ns}.uts`, '--', ...argv],
    { encoding: 'utf8' },
  );
  return { status: result.status, stdout: result.stdout };
}

const TEMPLATE_NAME = 'onevmm-e2e';

// The tiny guest as an OpenNebula template: direct kernel boot, the kit's root image, a NIC on
// the kit's bridge network, a context CD-ROM with NETWORK=YES and an SSH key, room to grow to 2
// vCPUs and 256 MB, and its serial console in a file on the host. MACHINE=pc: the context CD is
// an IDE CD-ROM, which the guest's kernel can read (it has no AHCI driver for q35's SATA).
export async function ensureTemplate(kit: Kit): Promise<number> {
  const text = [
    `NAME="${TEMPLATE_NAME}"`,
    'CPU="0.5"',
    'VCPU="1"',
    'VCPU_MAX="2"',
    'MEMORY="128"',
    'MEMORY_MAX="256"',
    `OS=[ARCH="x86_64", MACHINE="pc", KERNEL="${kit.guest.kernel}", INITRD="${kit.guest.initrd}", KERNEL_CMD="console=ttyS0 tb_hb=1"]`,
    `DISK=[IMAGE_ID="${kit.ids.image}"]`,
    `NIC=[NETWORK_ID="${kit.ids.vnet}"]`,
    `CONTEXT=[NETWORK="YES", SSH_PUBLIC_KEY="${kit.pubkey}"]`,
    `RAW=[TYPE="kvm", DATA="<devices><serial type='file'><source path='/var/log/libvirt/qemu/guest-serial.log' append='on'/><target port='0'/></serial></devices>"]`,
  ].join('\n');
  const pool = String(await kit.rpc.call('one.templatepool.info', -2, -1, -1));
  const existing = new RegExp(
    `<ID>(\\d+)</ID><UID>\\d+</UID><GID>\\d+</GID><UNAME>[^<]*</UNAME><GNAME>[^<]*</GNAME><NAME>${TEMPLATE_NAME}</NAME>`,
  ).exec(pool);
  if (existing?.[1] !== undefined) {
    const id = Number(existing[1]);
    await kit.rpc.call('one.template.update', id, text, 0);
    return id;
  }
  return kit.rpc.callId('one.template.allocate', text);
}

// --- oned's view of a VM ------------------------------------------------------------------------

const STATES =
  'INIT PENDING HOLD ACTIVE STOPPED SUSPENDED DONE - POWEROFF UNDEPLOYED CLONING CLONING_FAILURE'.split(' ');
const LCM: Readonly<Record<number, string>> = {
  0: 'LCM_INIT', 1: 'PROLOG', 2: 'BOOT', 3: 'RUNNING', 4: 'MIGRATE', 5: 'SAVE_STOP', 6: 'SAVE_SUSPEND',
  7: 'SAVE_MIGRATE', 8: 'PROLOG_MIGRATE', 9: 'PROLOG_RESUME', 10: 'EPILOG_STOP', 11: 'EPILOG', 12: 'SHUTDOWN',
  15: 'CLEANUP_RESUBMIT', 16: 'UNKNOWN', 17: 'HOTPLUG', 18: 'SHUTDOWN_POWEROFF', 19: 'BOOT_UNKNOWN',
  20: 'BOOT_POWEROFF', 21: 'BOOT_SUSPENDED', 22: 'BOOT_STOPPED', 23: 'CLEANUP_DELETE', 24: 'HOTPLUG_SNAPSHOT',
  25: 'HOTPLUG_NIC', 26: 'HOTPLUG_SAVEAS', 29: 'SHUTDOWN_UNDEPLOY', 30: 'EPILOG_UNDEPLOY', 31: 'PROLOG_UNDEPLOY',
  32: 'BOOT_UNDEPLOY', 33: 'HOTPLUG_PROLOG_POWEROFF', 34: 'HOTPLUG_EPILOG_POWEROFF', 35: 'BOOT_MIGRATE',
  36: 'BOOT_FAILURE', 37: 'BOOT_MIGRATE_FAILURE', 38: 'PROLOG_MIGRATE_FAILURE', 39: 'PROLOG_FAILURE',
  40: 'EPILOG_FAILURE', 41: 'EPILOG_STOP_FAILURE', 42: 'EPILOG_UNDEPLOY_FAILURE', 57: 'DISK_SNAPSHOT',
  59: 'DISK_SNAPSHOT_DELETE', 60: 'PROLOG_MIGRATE_UNKNOWN', 61: 'PROLOG_MIGRATE_UNKNOWN_FAILURE',
  62: 'DISK_RESIZE', 66: 'HOTPLUG_RESIZE', 69: 'BACKUP', 70: 'BACKUP_POWEROFF',
}; // prettier-ignore

const xml = new XMLParser({
  parseTagValue: false,
  isArray: (name) => ['HISTORY', 'DISK', 'NIC', 'SNAPSHOT'].includes(name),
});

export interface VmView {
  // The LCM state's name when ACTIVE, else the VM state's (RUNNING, POWEROFF, DONE…).
  readonly state: string;
  readonly host: string | undefined;
  readonly disks: readonly Record<string, string>[];
  readonly nics: readonly Record<string, string>[];
  readonly snapshots: readonly Record<string, string>[];
  readonly error: string;
  readonly deployId: string;
}

export async function vmView(rpc: OneRpc, id: number): Promise<VmView> {
  const doc = xml.parse(String(await rpc.call('one.vm.info', id, false))) as {
    VM: {
      STATE: string;
      LCM_STATE: string;
      DEPLOY_ID?: string;
      HISTORY_RECORDS?: { HISTORY?: { HOSTNAME: string }[] };
      TEMPLATE?: {
        DISK?: Record<string, string>[];
        NIC?: Record<string, string>[];
        SNAPSHOT?: Record<string, string>[];
        ERROR?: string;
      };
      USER_TEMPLATE?: { ERROR?: string };
    };
  };
  const vm = doc.VM;
  const state = STATES[Number(vm.STATE)] ?? vm.STATE;
  return {
    state: state === 'ACTIVE' ? (LCM[Number(vm.LCM_STATE)] ?? vm.LCM_STATE) : state,
    host: vm.HISTORY_RECORDS?.HISTORY?.at(-1)?.HOSTNAME,
    disks: vm.TEMPLATE?.DISK ?? [],
    nics: vm.TEMPLATE?.NIC ?? [],
    snapshots: vm.TEMPLATE?.SNAPSHOT ?? [],
    error: vm.USER_TEMPLATE?.ERROR ?? vm.TEMPLATE?.ERROR ?? '',
    deployId: typeof vm.DEPLOY_ID === 'string' ? vm.DEPLOY_ID : '',
  };
}

const END_STATES = /FAILURE|UNKNOWN|^DONE$|^POWEROFF$|^RUNNING$|^SUSPENDED$/;

// Runs `act` (a request to oned) and waits until oned is through with it: the VM left the state
// it was in, reached a settled state again, and `done` (if given) says the change is there. Returns that view;
// a wrong end state is for the caller to assert (with the VM's error in the message).
export async function settle(
  rpc: OneRpc,
  id: number,
  act: () => Promise<unknown>,
  options: {
    readonly timeoutMs?: number;
    readonly done?: (view: VmView) => boolean;
    // the request may change no state (UPDATESG, EXEC): `done` alone proves it was carried out
    readonly mayStay?: boolean;
  } = {},
): Promise<VmView> {
  const before = await vmView(rpc, id);
  await act();
  const started = Date.now();
  let left = false;
  for (;;) {
    const view = await vmView(rpc, id);
    if (view.state !== before.state) left = true;
    const wanted = options.done?.(view) ?? true;
    if (
      (left || (options.mayStay === true && options.done !== undefined)) &&
      wanted &&
      END_STATES.test(view.state)
    )
      return view;
    // a request oned answered without a visible state change
    if (!left && wanted && Date.now() - started > 10_000 && END_STATES.test(view.state)) return view;
    if (Date.now() - started > (options.timeoutMs ?? 120_000))
      throw new Error(`VM ${id}: still ${view.state} after the request (${view.error})`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

// --- the hosts ----------------------------------------------------------------------------------

// The guest serial console of a kit host (the tiny templates write it there).
export function serialLog(host: KitHost): string {
  try {
    return readFileSync(path.join(KIT_TB.dir, host.name, 'log', 'qemu', 'guest-serial.log'), 'utf8');
  } catch {
    return '';
  }
}

// Waits until the serial console of `host`, past `offset` characters, matches `pattern`; returns
// the match.
export async function waitSerial(
  host: KitHost,
  offset: number,
  pattern: RegExp,
  timeoutMs = 60_000,
): Promise<string> {
  const text = await waitForText(
    () => serialLog(host).slice(offset),
    pattern,
    `${host.name} guest console`,
    timeoutMs,
    100,
  );
  return pattern.exec(text)?.[0] ?? '';
}

// What a host has of the VMs: libvirt's domains, the bridges, and the files of the VM folders in
// the system datastores (the shared one as every host sees it, the ssh one private to the host).
export interface HostContents {
  readonly domains: readonly string[];
  readonly bridges: readonly string[];
  readonly files: readonly string[];
}

// Destroys every domain of a kit host and empties its system datastores (what a failed test left
// and oned no longer knows about).
export function clearHost(host: KitHost, sshDatastore: number): void {
  const script = [
    'for d in $(virsh -c qemu:///system list --all --name); do',
    '  virsh -c qemu:///system destroy "$d"; virsh -c qemu:///system undefine --nvram "$d" || virsh -c qemu:///system undefine "$d"',
    'done >/dev/null 2>&1',
    'for ds in "$@"; do find "$ds" -mindepth 1 -maxdepth 1 ! -name .monitor -exec rm -rf {} +; done',
  ].join('\n');
  kitHostRun(host, [
    'sh',
    '-c',
    script,
    'sh',
    `${ONE_LOCATION}/var/datastores/0`,
    `${ONE_LOCATION}/var/datastores/${sshDatastore}`,
  ]);
}

export function hostContents(host: KitHost, sshDatastore: number): HostContents {
  const list = (argv: string[]): string[] =>
    kitHostRun(host, argv)
      .stdout.split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '');
  // every entry below the datastore, with its type (f, d, l), but the datastore's own .monitor
  const find = (dir: string, label: string): string[] =>
    list([
      'sh',
      '-c',
      'cd "$1" 2>/dev/null && find . -mindepth 1 ! -name .monitor -printf "%y %P\\n" | sort',
      'sh',
      dir,
    ]).map((line) => `${label}:${line}`);
  return {
    domains: list(['virsh', '-c', 'qemu:///system', 'list', '--all', '--name']),
    bridges: list(['sh', '-c', "ip -o link show type bridge | awk -F': ' '{print $2}'"]),
    files: [
      ...find(`${ONE_LOCATION}/var/datastores/0`, 'ds0'),
      ...find(`${ONE_LOCATION}/var/datastores/${sshDatastore}`, `ds${sshDatastore}`),
    ],
  };
}
