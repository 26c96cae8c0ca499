# shellcheck shell=bash
# Debian packages and the libvirt-qemu user (sourced by testbed.sh). Recipe:
# shared/testbed/install-deps.sh and README.md §6 (fresh machine: ~46 packages, ~15 s).

TB_PACKAGES=(
  libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients # libvirtd (no systemd units) + virsh
  qemu-system-x86 qemu-utils                                # qemu, qemu-img
  openssh-server openssh-client                             # one sshd per host; ssh, ssh-keygen
  iproute2 util-linux                                       # ip; nsenter, unshare, flock, findmnt
  libxml2-utils                                             # xmllint, for virt-xml-validate
  tini                                                      # child subreaper for libvirtd
  busybox-static                                            # the guest's userland (and its cpio)
)

# Prints the packages of TB_PACKAGES that are not installed.
missing_packages() {
  local installed p
  # one dpkg-query for all (it exits non-zero when it knows a package not at all)
  installed=" $(dpkg-query -W -f='${Package}:${Status} ' "${TB_PACKAGES[@]}" 2>/dev/null || true) "
  for p in "${TB_PACKAGES[@]}"; do
    [[ $installed == *" $p:install ok installed "* ]] || echo "$p"
  done
}

# Installs what is missing, without starting any service: a policy-rc.d that forbids
# starts is in place during the install, so openssh-server's postinst starts no sshd on the
# machine's own addresses.
install_packages() {
  local missing policy=/usr/sbin/policy-rc.d ours=0
  mapfile -t missing < <(missing_packages)
  if ((${#missing[@]} > 0)); then
    log "installing: ${missing[*]}"
    if [[ ! -e $policy ]]; then
      printf '#!/bin/sh\n# onevmm testbed: no service starts during package installs\nexit 101\n' >"$policy"
      chmod 755 "$policy"
      ours=1
    fi
    local rc=0
    {
      DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=120 update &&
        DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=120 -o Dpkg::Use-Pty=0 \
          install --no-install-recommends "${missing[@]}"
    } </dev/null >"$TB_DIR.apt.log" 2>&1 || rc=$?
    ((ours)) && rm -f "$policy"
    ((rc == 0)) || { tail -20 "$TB_DIR.apt.log" >&2; die "apt-get failed (log: $TB_DIR.apt.log)"; }
    rm -f "$TB_DIR.apt.log"
  fi
  # libvirtd's qemu driver resolves its compiled-in default user before it reads qemu.conf and
  # will not start without it; libvirt-daemon-system would create it, but also brings systemd
  # units, polkit and a default network (README.md §2).
  getent passwd libvirt-qemu >/dev/null ||
    useradd --system --no-create-home --home-dir /var/lib/libvirt --shell /usr/sbin/nologin \
      --user-group libvirt-qemu
  # sshd's privilege-separation directory; /run is shared by all hosts.
  mkdir -p /run/sshd
  chmod 755 /run/sshd
}
