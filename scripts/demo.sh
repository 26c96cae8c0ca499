#!/usr/bin/env bash
# npm run demo: deploys, polls and shuts down a real tiny VM on a test host made for the occasion,
# with onevmm's real action executables, then tears everything down. Needs root (namespaces,
# libvirtd) and Debian's packages, which it installs when they are missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The demo's own testbed, beside any other one (its own state dir, subnet, bridge and names).
export TB_DIR=/tmp/onevmm-demo TB_NET=10.77.9 TB_BR=tbdemo0 TB_PREFIX=demo-h
HOST=10.77.9.11 VMID=100 DOMAIN=one-100
export ONEVMM_KVMRC=$TB_DIR/kvmrc
work=$(mktemp -d)

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
cleanup() {
  say "Tearing down: destroying the VM if it still runs, stopping the test host, removing its files."
  remotes/vmm/kvm/cancel "$DOMAIN" "$VMID" "$HOST" >/dev/null 2>&1 || true
  bash testbed/testbed.sh down >/dev/null 2>&1 || true
  rm -rf "$work"
  echo "Done."
}
trap cleanup EXIT

if [[ ! -d node_modules || ! -f dist/remote.mjs ]]; then
  say "Installing onevmm's npm dependencies and building its bundle (npm ci)."
  npm ci --no-audit --no-fund
fi

say "Starting one test host: a network namespace with its own OpenSSH server and libvirtd,"
echo "    reachable at $HOST over SSH with a key and a known_hosts file made for it. Debian's"
echo "    libvirt, QEMU and OpenSSH packages are installed first if they are missing, and a tiny"
echo "    guest (a Debian kernel with a busybox initramfs) is built."
bash testbed/testbed.sh up 1 | sed 's/^/    /'

say "Turning examples/tiny.tmpl (an OpenNebula template) into libvirt domain XML for VM $VMID."
sed "s#/tmp/onevmm-tb/guest/#$TB_DIR/guest/#g" examples/tiny.tmpl > "$work/tiny.tmpl"
bin/onevmm translate "$work/tiny.tmpl" --vm-id "$VMID" --validate > "$work/deployment.xml"
echo "    $(grep -c . "$work/deployment.xml") lines, checked against libvirt's schema. The start of it:"
sed -n '1,12p' "$work/deployment.xml" | sed 's/^/    /'

say "Deploying it: remotes/vmm/kvm/deploy writes the XML on the host over one SSH connection,"
echo "    runs 'virsh create' there and prints the new domain's UUID, as OpenNebula's script does."
uuid=$(remotes/vmm/kvm/deploy "/var/lib/one/datastores/0/$VMID/deployment.0" "$HOST" "$VMID" "$HOST" < "$work/deployment.xml")
echo "    UUID: $uuid"

say "Waiting for the guest to boot: its serial console (a file on the host) says TB-GUEST-UP."
log=$TB_DIR/demo-h1/log/qemu/$DOMAIN.serial
for _ in $(seq 1 120); do grep -q TB-GUEST-UP "$log" 2>/dev/null && break; sleep 0.5; done
grep -m1 TB-GUEST-UP "$log" | sed 's/^/    guest: /'

say "Polling it twice with remotes/vmm/kvm/poll (one 'virsh domstats' call each; CPU is worked"
echo "    out from the two samples, so the first poll shows CPU=0)."
remotes/vmm/kvm/poll "$DOMAIN" "$VMID" "$HOST" | sed 's/^/    /'
sleep 2
remotes/vmm/kvm/poll "$DOMAIN" "$VMID" "$HOST" | sed 's/^/    /'

say "Shutting it down: remotes/vmm/kvm/shutdown presses the ACPI power button and returns as soon"
echo "    as the domain is gone."
start=$(date +%s%N)
remotes/vmm/kvm/shutdown "$DOMAIN" "$VMID" "$HOST"
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
echo "    done in ${elapsed_ms} ms (SSH connection included); the guest said: $(grep -m1 TB-POWEROFF "$log")"
echo "    A last poll: $(remotes/vmm/kvm/poll "$DOMAIN" "$VMID" "$HOST")  (d: the domain is gone)"
