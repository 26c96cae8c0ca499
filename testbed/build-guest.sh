#!/bin/bash
# build-guest.sh OUTDIR — builds the testbed's tiny guest into OUTDIR: a Debian "cloud" kernel
# (vmlinuz, taken out of its .deb without installing it) and an initramfs of busybox-static
# plus a shell /init, and Debian's QEMU guest agent with the libraries it links (copied from this
# machine). No disk image. Needs apt (two downloads, ~27 MB) and busybox-static.
# Recipe: shared/testbed/build-guest.sh and README.md §3.
#
# What the guest does, all on the serial console (ttyS0):
#   - loads evdev + button (ACPI power button: both are modules in Debian; without evdev there
#     is no /dev/input/event* for acpid) and the virtio modules (hot-plugged disks and NICs,
#     balloon); after TB-GUEST-UP, in the background, virtio-scsi and IDE CD-ROM (sd*, sr*);
#   - prints "TB-GUEST-UP up=<uptime>";
#   - runs busybox acpid: the power button ("virsh shutdown") prints "TB-POWEROFF up=<uptime>"
#     and powers off. Kernel argument tb_noacpid: no acpid, the guest ignores shutdown;
#   - prints "TB-HB <n> up=<uptime> blk=<block devs> net=<net devs> cpus=<online cpus>
#     mem=<MemTotal kB> sectors=<dev>:<512-byte sectors>,..." every tb_hb=<s> seconds
#     (default 2): proof that it still runs after save/restore/migration, and that a
#     hot-plugged disk, NIC, vCPU or DIMM, a balloon, a resize or a CD-ROM change showed up
#     (an empty CD-ROM tray: sectors 0). Hot-added vCPUs and memory are put online;
#   - starts qemu-ga (Debian's qemu-guest-agent) on the virtio-serial port
#     org.qemu.guest_agent.0 when the domain has one, and prints "TB-QGA up=<uptime>": virsh
#     qemu-agent-command, guest-exec (onevmm's EXEC) and domtime work against a real agent;
#   - prints "TB-CONTEXT <dev> <NAME>=<value> ..." when a CD-ROM holding OpenNebula's
#     context.sh appears or changes: its ETH<n>_IP, ETH<n>_ALIAS<m>_IP and ETH<n>_MAC values, and
#     SSH_PUBLIC_KEY=yes
#     when it has one (OpenNebula's context, as the guest sees it).
# OUTDIR/.stamp holds the hash of this script: testbed.sh rebuilds when the script changed.
set -euo pipefail
OUT=${1:?usage: build-guest.sh OUTDIR}
BB=/bin/busybox # from busybox-static
"$BB" true 2>/dev/null || { echo "build-guest: install busybox-static" >&2; exit 1; }

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# 1. The kernel: resolve the ABI package behind linux-image-cloud-amd64, download only that
#    .deb and unpack it.
kernel_package() { apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-/ { print $2; exit }'; }
KPKG=$(kernel_package)
if [[ -z $KPKG ]]; then # no package lists yet
  apt-get -q -y -o DPkg::Lock::Timeout=120 update >/dev/null
  KPKG=$(kernel_package)
fi
[[ -n $KPKG ]] || { echo "build-guest: apt knows no linux-image-cloud-amd64" >&2; exit 1; }
(cd "$WORK" && apt-get download "$KPKG" >apt.log 2>&1) || { cat "$WORK/apt.log" >&2; exit 1; }
dpkg -x "$WORK/${KPKG}"_*.deb "$WORK/k"
MODDIR=$(echo "$WORK"/k/lib/modules/*/kernel)
# The guest agent: Debian's qemu-ga, unpacked like the kernel.
(cd "$WORK" && apt-get download qemu-guest-agent >>apt.log 2>&1) || { cat "$WORK/apt.log" >&2; exit 1; }
dpkg -x "$WORK"/qemu-guest-agent_*.deb "$WORK/qga"

# 2. The initramfs tree. `busybox --list` includes busybox itself: skip it, or the binary
#    becomes a link to itself.
R=$WORK/root
mkdir -p "$R"/{bin,dev,proc,sys,tmp,mnt,etc/acpi/PWRF,lib/modules,var/run,var/log}
cp "$BB" "$R/bin/busybox"
for a in $("$BB" --list); do [[ $a == busybox ]] || ln -s busybox "$R/bin/$a"; done
# Modules in load order (plain insmod, no depmod): virtio needs virtio_ring's symbols.
# PCI hot-plug (acpiphp, pciehp) and CPU / memory hot-plug are built into this kernel.
MODS=(drivers/input/evdev drivers/acpi/button
  drivers/virtio/virtio_ring drivers/virtio/virtio
  drivers/virtio/virtio_pci_legacy_dev drivers/virtio/virtio_pci_modern_dev
  drivers/virtio/virtio_pci drivers/block/virtio_blk
  net/core/failover drivers/net/net_failover drivers/net/virtio_net
  drivers/virtio/virtio_balloon drivers/char/virtio_console)
# SCSI disks (virtio-scsi) and IDE CD-ROMs: loaded in the background after TB-GUEST-UP, as
# they cost ~0.7 s of boot under TCG
LATE=(drivers/scsi/scsi_common drivers/scsi/scsi_mod drivers/scsi/sd_mod drivers/scsi/virtio_scsi
  drivers/cdrom/cdrom drivers/scsi/sr_mod drivers/ata/libata drivers/ata/ata_piix fs/isofs/isofs)
for m in "${MODS[@]}" "${LATE[@]}"; do cp "$MODDIR/$m.ko" "$R/lib/modules/"; done
for m in "${MODS[@]}"; do basename "$m"; done >"$R/lib/modules/order"
# qemu-ga and the shared libraries it needs, at the paths ldd resolves on this machine (the
# same Debian release as the agent); the dynamic loader comes along as one of them.
cp "$WORK/qga/usr/sbin/qemu-ga" "$R/bin/qemu-ga"
libs=$(ldd "$R/bin/qemu-ga") || { echo "build-guest: ldd qemu-ga failed" >&2; exit 1; }
if grep -q 'not found' <<<"$libs"; then
  echo "build-guest: qemu-ga needs libraries this machine lacks:" >&2
  grep 'not found' <<<"$libs" >&2
  exit 1
fi
for lib in $(grep -o '/[^ ]*' <<<"$libs"); do
  mkdir -p "$R$(dirname "$lib")"
  cp -L "$lib" "$R$lib"
done
for m in "${LATE[@]}"; do basename "$m"; done >"$R/lib/modules/order.late"

# busybox acpid runs <confdir>/PWRF/00000080 on a power-button press
cat >"$R/etc/acpi/PWRF/00000080" <<'EOS'
#!/bin/sh
echo "TB-POWEROFF up=$(cut -d' ' -f1 /proc/uptime)" > /dev/console
sync
poweroff -f
EOS
chmod +x "$R/etc/acpi/PWRF/00000080"

cat >"$R/init" <<'EOS'
#!/bin/sh
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /lib/modules/order); do insmod /lib/modules/$m.ko || echo "TB-INSMOD-FAILED $m"; done
hb=2; acpi=1
for a in $(cat /proc/cmdline); do
  case $a in tb_hb=*) hb=${a#tb_hb=} ;; tb_noacpid) acpi=0 ;; esac
done
# hot-added memory comes online by itself (this kernel leaves it offline by default), movable:
# a DIMM can be unplugged again
echo online_movable >/sys/devices/system/memory/auto_online_blocks 2>/dev/null || true
echo "TB-GUEST-UP up=$(cut -d' ' -f1 /proc/uptime)"
(for m in $(cat /lib/modules/order.late); do insmod /lib/modules/$m.ko || echo "TB-INSMOD-FAILED $m"; done) &
[ $acpi = 1 ] && acpid -c /etc/acpi -l /var/log/acpid.log
# the guest agent, on the port libvirt names org.qemu.guest_agent.0 (absent: no agent)
for p in /sys/class/virtio-ports/*; do
  [ "$(cat "$p/name" 2>/dev/null)" = org.qemu.guest_agent.0 ] || continue
  qemu-ga -d -m virtio-serial -p "/dev/${p##*/}" -f /tmp/qemu-ga.pid -t /tmp \
    && echo "TB-QGA up=$(cut -d' ' -f1 /proc/uptime)"
done
ip link set lo up
n=0
while :; do
  n=$((n + 1))
  # a hot-added CPU stays offline until userspace onlines it (udev would, elsewhere)
  for f in /sys/devices/system/cpu/cpu[1-9]*/online; do
    [ -e "$f" ] && read -r v <"$f" && [ "$v" = 0 ] && echo 1 >"$f"
  done
  blk=$(ls /sys/block | tr '\n' ','); net=$(ls /sys/class/net | tr '\n' ',')
  sz=''
  for b in /sys/block/*; do
    d=${b##*/}
    # opening a CD-ROM makes the kernel look at its media (size after change-media); an
    # empty tray counts as 0. In a subshell: a failed redirection on ":" would end init.
    case $d in sr*) (: <"/dev/$d") 2>/dev/null || { sz="$sz$d:0,"; rm -f "/tmp/seen.$d"; continue; } ;; esac
    [ -e "$b/size" ] && read -r s <"$b/size" && sz="$sz$d:$s,"
    # a CD-ROM holding OpenNebula's context.sh, new or changed: say what it sets
    case $d in sr*)
      if mount -t iso9660 -o ro "/dev/$d" /mnt 2>/dev/null; then
        sum=$(md5sum /mnt/context.sh 2>/dev/null | cut -d' ' -f1)
        if [ -n "$sum" ] && [ "$sum" != "$(cat "/tmp/seen.$d" 2>/dev/null)" ]; then
          echo "$sum" >"/tmp/seen.$d"
          ctx=$(sed -n -e "s/^\(ETH[0-9]*_IP\)='\([^']*\)'.*/\1=\2/p" \
            -e "s/^\(ETH[0-9]*_ALIAS[0-9]*_IP\)='\([^']*\)'.*/\1=\2/p" \
            -e "s/^\(ETH[0-9]*_MAC\)='\([^']*\)'.*/\1=\2/p" /mnt/context.sh | tr '\n' ' ')
          grep -q "^SSH_PUBLIC_KEY='." /mnt/context.sh && ctx="${ctx}SSH_PUBLIC_KEY=yes"
          echo "TB-CONTEXT $d ${ctx% }"
        fi
        umount /mnt
      fi ;;
    esac
  done
  read -r cpus </sys/devices/system/cpu/online
  while read -r k mem _; do [ "$k" = MemTotal: ] && break; done </proc/meminfo
  echo "TB-HB $n up=$(cut -d' ' -f1 /proc/uptime) blk=${blk%,} net=${net%,} cpus=$cpus mem=$mem sectors=${sz%,}"
  sleep "$hb"
done
EOS
chmod +x "$R/init"

# 3. Pack (newc cpio, gzip) and move into place only when complete.
mkdir -p "$WORK/out"
cp "$WORK"/k/boot/vmlinuz-* "$WORK/out/vmlinuz"
(cd "$R" && find . | "$BB" cpio -o -H newc 2>/dev/null | gzip -9 >"$WORK/out/initrd.gz")
sha256sum "$0" | cut -d' ' -f1 >"$WORK/out/.stamp"
mkdir -p "$OUT"
mv -f "$WORK/out/vmlinuz" "$WORK/out/initrd.gz" "$OUT/"
mv -f "$WORK/out/.stamp" "$OUT/.stamp" # last: a stamp means a complete guest
echo "guest: $OUT/vmlinuz ($KPKG), $OUT/initrd.gz ($(du -k "$OUT/initrd.gz" | cut -f1) KiB)"
