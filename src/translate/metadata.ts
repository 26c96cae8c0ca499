// <metadata><one:vm>: where the VM's files live and who owns it (reference §6.4 item 19).
import { element, textElement, type XmlElement } from '../domain/xml.js';
import type { TranslateContext } from './context.js';

export const ONE_METADATA_NS = 'http://opennebula.org/xmlns/libvirt/1.0';

export function buildMetadata(ctx: TranslateContext): XmlElement {
  const { vm } = ctx;
  return element('metadata', null, [
    element('one:vm', { 'xmlns:one': ONE_METADATA_NS }, [
      textElement('one:system_datastore', ctx.systemDir),
      textElement('one:name', vm.name),
      textElement('one:uname', vm.uname),
      textElement('one:uid', vm.uid),
      textElement('one:gname', vm.gname),
      textElement('one:gid', vm.gid),
      textElement('one:stime', vm.stime),
      textElement('one:deployment_time', ctx.options.deploymentTime),
    ]),
  ]);
}
