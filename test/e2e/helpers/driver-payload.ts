// Payloads of oned's VMM protocol for the driver e2e tests: a template-like object becomes the
// <VMM_DRIVER_ACTION_DATA> document oned writes (reference §2.4): element values escaped, template
// values CDATA-wrapped, template children in alphabetical order (oned keeps them in a multimap).
import path from 'node:path';
import type { TestbedInfo } from './testbed.js';

// A template attribute: a single value, a vector (sub-attributes), or a repeated attribute.
export type TemplateValue = string | number | TemplateVector | readonly TemplateValue[];
export interface TemplateVector {
  readonly [name: string]: TemplateValue;
}

export interface HistoryFields {
  readonly hostname: string;
  readonly hid?: number;
  readonly dsId?: number;
  readonly vmMad?: string;
  readonly tmMad?: string;
}

export interface VmFields {
  readonly id: number;
  readonly name: string;
  readonly deployId?: string;
  readonly template: TemplateVector;
  readonly history?: HistoryFields;
}

// The fields of VMM_DRIVER_ACTION_DATA, in oned's order; an absent field is an empty element.
export interface ActionData {
  readonly host: string;
  readonly migrHost?: string;
  readonly deployId?: string;
  readonly localDeploymentFile?: string;
  readonly remoteDeploymentFile?: string;
  readonly checkpointFile?: string;
  readonly tmCommand?: string;
  readonly tmCommandRollback?: string;
  readonly diskTargetPath?: string;
  readonly vm?: VmFields;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

// Element text with the five XML specials escaped; characters XML cannot carry are refused.
export function escapeXml(value: string): string {
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/.test(value))
    throw new Error(`a value XML cannot carry: ${JSON.stringify(value)}`);
  return value.replace(
    /[&<>"']/g,
    (c) => `&${{ '&': 'amp', '<': 'lt', '>': 'gt', '"': 'quot', "'": 'apos' }[c]};`,
  );
}

// <![CDATA[value]]> as oned writes template values; a `]]>` inside is split over two sections.
export function cdata(value: string): string {
  escapeXml(value); // the same characters are refused
  return `<![CDATA[${value.replaceAll(']]>', ']]]]><![CDATA[>')}]]>`;
}

function element(name: string, inner: string): string {
  if (!NAME.test(name)) throw new Error(`not an element name: ${JSON.stringify(name)}`);
  return inner === '' ? `<${name}/>` : `<${name}>${inner}</${name}>`;
}

function textElement(name: string, value: string | number | undefined): string {
  return element(name, value === undefined ? '' : escapeXml(String(value)));
}

function templateAttribute(name: string, value: TemplateValue): string {
  if (Array.isArray(value))
    return (value as readonly TemplateValue[]).map((v) => templateAttribute(name, v)).join('');
  if (typeof value === 'string' || typeof value === 'number') return element(name, cdata(String(value)));
  return element(name, templateChildren(value as TemplateVector));
}

function templateChildren(vector: TemplateVector): string {
  return Object.keys(vector)
    .sort()
    .map((key) => templateAttribute(key, vector[key] as TemplateValue))
    .join('');
}

// <TEMPLATE>…</TEMPLATE> of a VM.
export function templateXml(template: TemplateVector): string {
  return element('TEMPLATE', templateChildren(template));
}

// The <VM> document oned sends inside the payload.
export function vmXml(vm: VmFields): string {
  const history =
    vm.history === undefined
      ? '<HISTORY_RECORDS/>'
      : element(
          'HISTORY_RECORDS',
          element(
            'HISTORY',
            [
              textElement('SEQ', 0),
              textElement('HOSTNAME', vm.history.hostname),
              textElement('HID', vm.history.hid ?? 0),
              textElement('DS_ID', vm.history.dsId ?? 0),
              textElement('VM_MAD', vm.history.vmMad ?? 'kvm'),
              textElement('TM_MAD', vm.history.tmMad ?? 'shared'),
            ].join(''),
          ),
        );
  return element(
    'VM',
    [
      textElement('ID', vm.id),
      textElement('NAME', vm.name),
      textElement('UID', 0),
      textElement('GID', 0),
      textElement('UNAME', 'oneadmin'),
      textElement('GNAME', 'oneadmin'),
      textElement('STIME', 1700000000),
      textElement('DEPLOY_ID', vm.deployId),
      templateXml(vm.template),
      '<USER_TEMPLATE/>',
      history,
    ].join(''),
  );
}

// The whole <VMM_DRIVER_ACTION_DATA> document.
export function actionDataXml(data: ActionData): string {
  return element(
    'VMM_DRIVER_ACTION_DATA',
    [
      textElement('HOST', data.host),
      textElement('MIGR_HOST', data.migrHost),
      textElement('DEPLOY_ID', data.deployId),
      textElement('LOCAL_DEPLOYMENT_FILE', data.localDeploymentFile),
      textElement('REMOTE_DEPLOYMENT_FILE', data.remoteDeploymentFile),
      textElement('CHECKPOINT_FILE', data.checkpointFile),
      element('TM_COMMAND', data.tmCommand === undefined ? '' : cdata(data.tmCommand)),
      element(
        'TM_COMMAND_ROLLBACK',
        data.tmCommandRollback === undefined ? '' : cdata(data.tmCommandRollback),
      ),
      textElement('DISK_TARGET_PATH', data.diskTargetPath),
      data.vm === undefined ? '' : vmXml(data.vm),
    ].join(''),
  );
}

// One request line as oned ≥6.0 writes it: two spaces after the action, the payload in base64.
export function requestLine(action: string, vmid: number, payloadXml?: string): string {
  const payload = payloadXml === undefined ? '' : Buffer.from(payloadXml, 'utf8').toString('base64');
  return `${action}  ${vmid} ${payload}`;
}

export interface TinyGuestOptions {
  readonly name?: string;
  // Adds tb_noacpid to the kernel command line: the guest ignores the ACPI power button.
  readonly ignoreAcpi?: boolean;
}

// The system datastore directory of a VM on a testbed host: $TB_DIR/local is per host (a local
// datastore), so nothing is written outside the testbed.
export function vmDir(tb: TestbedInfo, vmId: number): string {
  return path.join(tb.dir, 'local', 'datastores', '0', String(vmId));
}

// The template of the tiny testbed guest (kernel + busybox, serial log one-<vmid>.serial, a
// heartbeat every 2 s), as /tmp/drv/deploy-101.xml has it.
export function tinyGuestTemplate(
  tb: TestbedInfo,
  vmId: number,
  options: TinyGuestOptions = {},
): TemplateVector {
  return {
    CPU: '0.5',
    EMULATOR: '/usr/bin/qemu-system-x86_64',
    MEMORY: 128,
    OS: {
      KERNEL: tb.guest.kernel,
      INITRD: tb.guest.initrd,
      KERNEL_CMD: `console=ttyS0 quiet panic=-1 tb_hb=2${options.ignoreAcpi ? ' tb_noacpid' : ''}`,
    },
    RAW: {
      TYPE: 'kvm',
      DATA: `<devices><serial type='file'><source path='/var/log/libvirt/qemu/one-${vmId}.serial' append='on'/><target port='0'/></serial></devices>`,
    },
    VCPU: 1,
    VMID: vmId,
  };
}

// DEPLOY's payload for the tiny guest on `host` (an address).
export function deployPayload(
  tb: TestbedInfo,
  host: string,
  vmId: number,
  options: TinyGuestOptions = {},
): string {
  return actionDataXml({
    host,
    localDeploymentFile: `/var/lib/one/vms/${vmId}/deployment.0`,
    remoteDeploymentFile: path.join(vmDir(tb, vmId), 'deployment.0'),
    vm: {
      id: vmId,
      name: options.name ?? `tiny-${vmId}`,
      template: tinyGuestTemplate(tb, vmId, options),
      history: { hostname: host },
    },
  });
}

// The payload of an action on an existing domain (SHUTDOWN, CANCEL, POLL, SAVE, …).
export function domainPayload(
  host: string,
  vmId: number,
  options: { readonly deployId?: string; readonly checkpointFile?: string } = {},
): string {
  const deployId = options.deployId ?? `one-${vmId}`;
  return actionDataXml({
    host,
    deployId,
    ...(options.checkpointFile === undefined ? {} : { checkpointFile: options.checkpointFile }),
    vm: {
      id: vmId,
      name: `vm-${vmId}`,
      deployId,
      template: { CPU: '0.5', MEMORY: 128, VCPU: 1, VMID: vmId },
      history: { hostname: host },
    },
  });
}
