// A libvirt *test driver* node description with N running domains (as shared/testbed/gen-test-node.sh
// writes it): each 1 vCPU, 512 MiB, one qcow2 disk, one bridged NIC. Use with
// `virsh -c test:///abs/path/node.xml …`; every virsh process re-reads (re-parses) the whole file.
export function testNodeXml(ids: readonly number[]): string {
  const hex = (i: number, shift: number): string => ((i >> shift) & 255).toString(16).padStart(2, '0');
  const parts = [
    '<node>',
    '  <cpu><mhz>2000</mhz><model>x86_64</model><active>2</active><nodes>1</nodes>' +
      '<sockets>1</sockets><cores>2</cores><threads>1</threads></cpu>',
    '  <memory>25165824</memory>',
  ];
  for (const i of ids) {
    parts.push(`  <domain type='test'>
    <name>one-${i}</name>
    <uuid>7e57d000-0000-4000-8000-${String(i).padStart(12, '0')}</uuid>
    <memory unit='KiB'>524288</memory>
    <currentMemory unit='KiB'>524288</currentMemory>
    <vcpu>1</vcpu>
    <os><type arch='x86_64'>hvm</type></os>
    <devices>
      <disk type='file' device='disk'>
        <driver name='qemu' type='qcow2'/>
        <source file='/var/lib/one/datastores/0/${i}/disk.0'/>
        <target dev='vda' bus='virtio'/>
      </disk>
      <interface type='bridge'>
        <mac address='02:00:${hex(i, 24)}:${hex(i, 16)}:${hex(i, 8)}:${hex(i, 0)}'/>
        <source bridge='br0'/>
        <target dev='one-${i}-0'/>
        <model type='virtio'/>
      </interface>
    </devices>
  </domain>`);
  }
  parts.push('</node>', '');
  return parts.join('\n');
}
