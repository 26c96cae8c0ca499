#!/bin/bash
# make-domain.sh NAME [kvm|qemu] [--disk QCOW2] [--vnc] [--memory MiB] [KERNEL_ARG...]
# Prints a libvirt domain XML for the testbed's tiny guest (direct kernel boot, no disk needed)
# for a quick manual check, e.g.
#   testbed/make-domain.sh t1 kvm >/tmp/t1.xml
#   ssh -F /tmp/onevmm-tb/ssh_config tb-h1 virsh -c qemu:///system create /tmp/t1.xml
# TYPE kvm (default) adds <cpu mode='host-passthrough'/>, as OpenNebula writes it; inside the
# testbed it boots under TCG through qemu-kvm-as-tcg. qemu is plain TCG.
# --disk attaches a qcow2 as vda (internal snapshots need one); --vnc adds a VNC display on
# 127.0.0.1 of the host (costs CPU under TCG); other arguments go to the kernel command line
# (tb_noacpid: the guest ignores "virsh shutdown"; tb_hb=N: heartbeat every N s).
#
# Serial console convention: <serial type='file'> to /var/log/libvirt/qemu/NAME.serial on the
# host, i.e. $TB_DIR/<host>/log/qemu/NAME.serial from the root netns (per host: after a
# migration the destination's file continues). NAME.log beside it is qemu's own stderr.
set -euo pipefail
# shellcheck source=lib/env.sh
. "$(dirname "$0")/lib/env.sh"

usage() { echo "usage: make-domain.sh NAME [kvm|qemu] [--disk QCOW2] [--vnc] [--memory MiB] [KERNEL_ARG...]" >&2; exit 2; }
(($# >= 1)) || usage
NAME=$1 TYPE=kvm DISK='' VNC=0 MEM=128 CMDLINE=()
shift
if (($# > 0)) && [[ $1 == kvm || $1 == qemu ]]; then TYPE=$1; shift; fi
while (($# > 0)); do
  case $1 in
    --disk) DISK=${2:?--disk needs a path}; shift 2 ;;
    --vnc) VNC=1; shift ;;
    --memory) MEM=${2:?--memory needs MiB}; shift 2 ;;
    -*) usage ;;
    *) CMDLINE+=("$1"); shift ;;
  esac
done
# the values are pasted into XML: allow only characters that need no escaping there
safe='^[A-Za-z0-9_.,:/=+-]*$'
[[ $NAME =~ ^[A-Za-z0-9_.-]+$ ]] || { echo "make-domain: bad NAME '$NAME'" >&2; exit 2; }
[[ $DISK =~ $safe && $MEM =~ ^[0-9]+$ ]] || { echo "make-domain: bad --disk or --memory" >&2; exit 2; }
for a in "${CMDLINE[@]}"; do [[ $a =~ $safe ]] || { echo "make-domain: bad kernel argument '$a'" >&2; exit 2; }; done

cpu='' disk='' vnc=''
[[ $TYPE == kvm ]] && cpu="
  <cpu mode='host-passthrough'/>"
[[ -n $DISK ]] && disk="
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='$DISK'/>
      <target dev='vda' bus='virtio'/>
    </disk>"
((VNC)) && vnc="
    <graphics type='vnc' listen='127.0.0.1' autoport='yes'/>"

cat <<EOX
<domain type='$TYPE'>
  <name>$NAME</name>
  <memory unit='MiB'>$MEM</memory>
  <vcpu>1</vcpu>$cpu
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$TB_GUEST_DIR/vmlinuz</kernel>
    <initrd>$TB_GUEST_DIR/initrd.gz</initrd>
    <cmdline>console=ttyS0 quiet panic=-1 tb_hb=2${CMDLINE[*]:+ ${CMDLINE[*]}}</cmdline>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>$disk
    <serial type='file'>
      <source path='/var/log/libvirt/qemu/$NAME.serial' append='on'/>
      <target port='0'/>
    </serial>$vnc
    <video><model type='none'/></video>
    <memballoon model='none'/>
  </devices>
</domain>
EOX
