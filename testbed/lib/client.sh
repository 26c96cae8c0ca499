# shellcheck shell=bash
# Client-side files (sourced by testbed.sh): keys, known_hosts, ssh config and wrapper, the
# testbed's /etc/hosts, the KVM-as-TCG wrapper, and the kvmrc + testbed.json that tests read.
# Recipe: shared/testbed/setup-hosts.sh and README.md §1, §3.

# The root netns' client key, authorized on every host (also used host -> host).
ensure_client_key() {
  [[ -f $TB_DIR/id_ed25519 ]] || ssh-keygen -q -t ed25519 -N '' -C onevmm-testbed -f "$TB_DIR/id_ed25519"
  put_file "$TB_DIR/authorized_keys" <"$TB_DIR/id_ed25519.pub"
}

# known_hosts (each host under its name and its address), ssh_config, bin/ssh, /etc/hosts of
# the hosts and every host's /root/.ssh/config, for hosts 1..n. Host keys must exist.
write_ssh_files() {
  local n=$1 i
  {
    for ((i = 1; i <= n; i++)); do
      echo "$(tb_name "$i"),$(tb_ip "$i") $(cut -d' ' -f1,2 "$(tb_hdir "$i")/ssh_host_ed25519_key.pub")"
    done
  } | put_file "$TB_DIR/known_hosts"
  {
    cat <<EOC
# onevmm testbed: ssh -F $TB_DIR/ssh_config tb-h1  (or put $TB_DIR/bin first in PATH)
Host $TB_PREFIX* $TB_NET.*
  User root
  IdentityFile $TB_DIR/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $TB_DIR/known_hosts
  StrictHostKeyChecking yes
  BatchMode yes
  ConnectTimeout 5
  # OpenSSH 9.2's default kex (sntrup761x25519) costs ~70 ms per connection here
  KexAlgorithms curve25519-sha256
  LogLevel ERROR
EOC
    for ((i = 1; i <= n; i++)); do printf 'Host %s\n  HostName %s\n' "$(tb_name "$i")" "$(tb_ip "$i")"; done
  } | put_file "$TB_DIR/ssh_config"
  # libvirt looks `ssh` up in PATH: with $TB_DIR/bin first, qemu+ssh://tb-h1/system works too
  printf '#!/bin/sh\nexec /usr/bin/ssh -F %s/ssh_config "$@"\n' "$TB_DIR" | put_file "$TB_DIR/bin/ssh"
  [[ -x $TB_DIR/bin/ssh ]] || chmod 755 "$TB_DIR/bin/ssh"
  {
    printf '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n'
    for ((i = 1; i <= n; i++)); do echo "$(tb_ip "$i") $(tb_name "$i")"; done
  } | put_file "$TB_DIR/hosts"
  for ((i = 1; i <= n; i++)); do
    mkdir -p "$(tb_hdir "$i")/home/.ssh"
    put_file "$(tb_hdir "$i")/home/.ssh/config" <"$TB_DIR/ssh_config"
  done
}

# The qemu wrapper, with the real binary's path (bound in each host's mount ns) filled in.
# qemu finds its modules and firmware relative to its own path, hence lib/ and share/.
install_qemu_wrapper() {
  mkdir -p "$TB_DIR/qemu/bin" "$TB_DIR/bin"
  ln -sfn /usr/lib "$TB_DIR/qemu/lib"
  ln -sfn /usr/share "$TB_DIR/qemu/share"
  [[ -e $TB_DIR/qemu/bin/qemu-system-x86_64 ]] || touch "$TB_DIR/qemu/bin/qemu-system-x86_64"
  sed "s|^REAL=.*|REAL=$TB_DIR/qemu/bin/qemu-system-x86_64|" "$TB_SRC/qemu-kvm-as-tcg" |
    put_file "$TB_DIR/bin/qemu-kvm-as-tcg"
  # (no chmod when already executable: libvirt re-probes qemu, ~1 s, when the ctime changes)
  [[ -x $TB_DIR/bin/qemu-kvm-as-tcg ]] || chmod 755 "$TB_DIR/bin/qemu-kvm-as-tcg"
}

# The kvmrc lines that make the driver reach the hosts.
kvmrc_lines() {
  cat <<EOC
SSH_USER=root
SSH_PORT=22
SSH_IDENTITY=$TB_DIR/id_ed25519
SSH_KNOWN_HOSTS=$TB_DIR/known_hosts
SSH_HOST_KEY_POLICY=strict
LIBVIRT_URI=qemu:///system
EOC
}

# $TB_DIR/kvmrc (for ONEVMM_KVMRC) and $TB_DIR/testbed.json (for test/e2e/helpers/testbed.ts).
write_test_files() {
  local n=$1 i sep=
  {
    echo "# onevmm testbed $TB_DIR: hosts $(for ((i = 1; i <= n; i++)); do printf '%s=%s ' "$(tb_name "$i")" "$(tb_ip "$i")"; done)"
    echo "# (from the root netns, reach hosts by address: the names resolve only inside the hosts)"
    kvmrc_lines
  } | put_file "$TB_DIR/kvmrc"
  {
    printf '{\n  "dir": "%s",\n  "net": "%s",\n  "bridge": "%s",\n' "$TB_DIR" "$TB_NET" "$TB_BR"
    printf '  "kvmrcPath": "%s/kvmrc",\n  "identity": "%s/id_ed25519",\n' "$TB_DIR" "$TB_DIR"
    printf '  "knownHosts": "%s/known_hosts",\n  "sshConfig": "%s/ssh_config",\n' "$TB_DIR" "$TB_DIR"
    printf '  "guest": { "kernel": "%s/vmlinuz", "initrd": "%s/initrd.gz" },\n' "$TB_GUEST_DIR" "$TB_GUEST_DIR"
    printf '  "hosts": ['
    for ((i = 1; i <= n; i++)); do
      printf '%s\n    { "index": %d, "name": "%s", "address": "%s", "veth": "%s", "dir": "%s" }' \
        "$sep" "$i" "$(tb_name "$i")" "$(tb_ip "$i")" "$(tb_veth "$i")" "$(tb_hdir "$i")"
      sep=,
    done
    printf '\n  ]\n}\n'
  } | put_file "$TB_DIR/testbed.json"
}
