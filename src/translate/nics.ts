// <interface> elements for NICs (reference §6.6).
import type { Vector } from '../template/model.js';
import { element, type XmlElement } from '../domain/xml.js';
import { TranslateError } from '../util/errors.js';
import { checkPath, resolveQueues, type TranslateContext } from './context.js';
import { showValue } from '../util/show-value.js';

// The values of an <interface> that libvirt's schema constrains (domaincommon.rng, basictypes.rng,
// nwfilter_params.rng): refused here, naming the attribute, rather than written into XML that
// libvirt would reject.
const LIBVIRT_PATTERNS = {
  BRIDGE: [/^[a-zA-Z0-9_.\-\\:/ ]*$/, 'letters, digits, space and _ . - \\ : /'],
  TARGET: [/^[a-zA-Z0-9_.\-\\:/]+$/, 'letters, digits and _ . - \\ : /'],
  MAC: [/^[a-fA-F0-9]{2}(:[a-fA-F0-9]{2}){5}$/, 'six hexadecimal pairs separated by colons'],
  MODEL: [/^[a-zA-Z0-9\-_]+$/, 'letters, digits, - and _'],
  FILTER: [/^[A-Za-z_][A-Za-z0-9_.-]*$/, 'a name: letters, digits, _ . - (not a digit first)'],
  IP: [/^[a-zA-Z0-9_.:]+$/, 'an address: letters, digits, _ . :'],
} as const;

function checkLibvirt(
  where: string,
  key: keyof typeof LIBVIRT_PATTERNS,
  value: string | undefined,
): string | undefined {
  if (value === undefined) return undefined;
  const [pattern, what] = LIBVIRT_PATTERNS[key];
  if (!pattern.test(value))
    throw new TranslateError(
      `${where}/${key}`,
      `${showValue(value)} is not what libvirt accepts here (${what})`,
    );
  return value;
}

function bandwidth(nic: Vector, where: string): XmlElement | undefined {
  const direction = (name: 'INBOUND' | 'OUTBOUND'): XmlElement | undefined => {
    const read = (key: string): string | undefined => {
      const value = nic[`${name}_${key}`] || undefined;
      if (value !== undefined && !/^\d+$/.test(value)) {
        throw new TranslateError(
          `${where}/${name}_${key}`,
          `must be an unsigned integer, got ${showValue(value)}`,
        );
      }
      return value;
    };
    const [average, peak, burst] = [read('AVG_BW'), read('PEAK_BW'), read('PEAK_KB')];
    if (average === undefined && peak === undefined && burst === undefined) return undefined;
    if (average === undefined) {
      throw new TranslateError(
        `${where}/${name}_AVG_BW`,
        `is required when ${name}_PEAK_BW or ${name}_PEAK_KB is set`,
      );
    }
    return element(name.toLowerCase(), { average, peak, burst });
  };
  const inbound = direction('INBOUND');
  const outbound = direction('OUTBOUND');
  return inbound === undefined && outbound === undefined
    ? undefined
    : element('bandwidth', null, [inbound, outbound]);
}

function filterref(ctx: TranslateContext, nic: Vector, where: string): XmlElement | undefined {
  const ip = nic['IP'] || undefined;
  const filter = nic['FILTER'] || ctx.look.defaultVector('NIC', 'FILTER') || undefined;
  if (ip === undefined || filter === undefined) return undefined;
  checkLibvirt(where, 'FILTER', filter);
  checkLibvirt(where, 'IP', ip);
  const vrouter = nic['VROUTER_IP'] || undefined;
  if (vrouter !== undefined && !LIBVIRT_PATTERNS.IP[0].test(vrouter))
    throw new TranslateError(
      `${where}/VROUTER_IP`,
      `${showValue(vrouter)} is not an address libvirt accepts here`,
    );
  return element('filterref', { filter }, [
    element('parameter', { name: 'IP', value: ip }),
    vrouter !== undefined && element('parameter', { name: 'IP', value: vrouter }),
  ]);
}

// Builds one <interface> for NIC number `index` of the VM template.
export function buildNic(ctx: TranslateContext, nic: Vector, index: number): XmlElement {
  const where = `NIC[${index}]`;
  const bridge = checkLibvirt(where, 'BRIDGE', nic['BRIDGE'] || undefined);
  const bridgeType = (nic['BRIDGE_TYPE'] ?? '').toLowerCase();
  const target = checkLibvirt(where, 'TARGET', nic['TARGET'] || undefined);
  checkLibvirt(where, 'MAC', nic['MAC'] || undefined);
  let type = 'bridge';
  const head: (XmlElement | undefined)[] = [];
  if (bridge === undefined || (nic['NETWORK_MODE'] ?? '').toLowerCase() === 'dummy') {
    type = 'ethernet';
  } else if (bridgeType === 'openvswitch_dpdk') {
    if (target === undefined) throw new TranslateError(`${where}/TARGET`, 'a vhost-user NIC needs a TARGET');
    type = 'vhostuser';
    head.push(
      element('source', { type: 'unix', mode: 'server', path: `/var/run/one/vhost-socks/${target}` }),
    );
  } else {
    if (bridgeType === 'openvswitch') head.push(element('virtualport', { type: 'openvswitch' }));
    head.push(element('source', { bridge }));
  }
  const order = nic['ORDER'] || undefined;
  if (order !== undefined && !/^[1-9]\d*$/.test(order)) {
    throw new TranslateError(`${where}/ORDER`, `must be a positive integer, got ${showValue(order)}`);
  }
  const model = checkLibvirt(
    where,
    'MODEL',
    nic['MODEL'] || ctx.look.defaultVector('NIC', 'MODEL') || (type === 'vhostuser' ? 'virtio' : undefined),
  );
  const queues =
    model === 'virtio'
      ? resolveQueues(ctx, nic['VIRTIO_QUEUES'] || ctx.look.defaultVector('NIC', 'VIRTIO_QUEUES'))
      : undefined;
  return element('interface', { type }, [
    ...head,
    (nic['MAC'] || undefined) !== undefined && element('mac', { address: nic['MAC'] }),
    target !== undefined && element('target', { dev: target }),
    order !== undefined && element('boot', { order }),
    (nic['SCRIPT'] || undefined) !== undefined &&
      element('script', { path: checkPath(`${where}/SCRIPT`, nic['SCRIPT'] ?? '') }),
    model !== undefined && element('model', { type: model }),
    queues !== undefined && element('driver', { name: 'vhost', queues }),
    filterref(ctx, nic, where),
    bandwidth(nic, where),
  ]);
}

// Builds every NIC in template order.
export function buildNics(ctx: TranslateContext): XmlElement[] {
  return ctx.look.vmVectors('NIC').map((nic, index) => buildNic(ctx, nic, index));
}
