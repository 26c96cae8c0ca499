// What the network drivers (VNM) get: the VN_MAD drivers of the VM's NIC, NIC_ALIAS and PCI
// elements, in order of appearance, and the reduced VM document OpenNebula's driver builds for
// them (one_vmm_exec.rb get_vnm_drivers): ID, DEPLOY_ID, CONTEXT, USER_TEMPLATE, the security group
// rules, the history's host and datastore, and every NIC, NIC_ALIAS and PCI with a VN_MAD. Each
// element is wrapped in its own copy of its parents, as OpenNebula's REXML code writes it: the
// scripts were written against exactly that.
import { readXmlRoot, type ParsedElement } from '../template/read-xml.js';

const PATHS = [
  'ID',
  'DEPLOY_ID',
  'TEMPLATE/CONTEXT',
  'USER_TEMPLATE',
  'TEMPLATE/SECURITY_GROUP_RULE',
  'HISTORY_RECORDS/HISTORY/HOSTNAME',
  'HISTORY_RECORDS/HISTORY/HID',
  'HISTORY_RECORDS/HISTORY/DS_ID',
  'HISTORY_RECORDS/HISTORY/VM_MAD',
];
const NETWORK_ELEMENTS = ['NIC', 'NIC_ALIAS', 'PCI'];

export interface VnmMessage {
  // Unique VN_MAD values, first seen first.
  readonly drivers: readonly string[];
  // The reduced <VM> document.
  readonly xml: string;
}

// Every element at `path` (a/b/c) below `root`.
function select(root: ParsedElement, path: string): ParsedElement[] {
  let level: ParsedElement[] = [root];
  for (const name of path.split('/')) level = level.flatMap((e) => e.children.filter((c) => c.name === name));
  return level;
}

function wrap(path: string, inner: string): string {
  const parents = path.split('/').slice(0, -1);
  return parents.reduceRight((xml, name) => `<${name}>${xml}</${name}>`, inner);
}

// Builds the network drivers' view of the VM from its <VM> element as oned wrote it.
export function buildVnmMessage(vmXml: string): VnmMessage {
  const root = readXmlRoot(vmXml, '<VM>');
  const parts: string[] = [];
  for (const path of PATHS) for (const element of select(root, path)) parts.push(wrap(path, element.source));
  const drivers: string[] = [];
  for (const name of NETWORK_ELEMENTS) {
    for (const element of select(root, `TEMPLATE/${name}`)) {
      const vnMad = element.children.find((c) => c.name === 'VN_MAD')?.text.trim() ?? '';
      if (vnMad === '') continue;
      if (!drivers.includes(vnMad)) drivers.push(vnMad);
      parts.push(wrap(`TEMPLATE/${name}`, element.source));
    }
  }
  return { drivers, xml: `<VM>${parts.join('')}</VM>` };
}
