# shellcheck shell=bash
# One test host (sourced by testbed.sh): its mount + UTS namespaces, sshd and libvirtd.
# Recipes: shared/testbed/setup-hosts.sh, start-libvirtd.sh, teardown-hosts.sh, README.md §1-2.

# Directories bound privately in every host's mount ns (empty mount points in the root fs).
# shellcheck disable=SC2034 # (used by testbed.sh)
TB_BIND_POINTS=(/run/libvirt /run/one /var/lib/libvirt /var/log/libvirt /var/cache/libvirt /etc/libvirt)

# Prints "ok" (netns and both ns files there), "none" (none of them) or "partial".
host_ns_state() {
  local h have=0
  h=$(tb_name "$1")
  [[ -e /run/netns/$h ]] && ((have += 1))
  ns_mounted "$TB_DIR/ns/$h.mnt" && ((have += 1))
  ns_mounted "$TB_DIR/ns/$h.uts" && ((have += 1))
  case $have in 3) echo ok ;; 0) echo none ;; *) echo partial ;; esac
}

# Creates host i's mount and UTS namespaces (inside its netns) and its private mounts.
create_host_ns() {
  local i=$1 h d
  h=$(tb_name "$i") d=$(tb_hdir "$i")
  mkdir -p "$d"/{run,one,lib,log/qemu,etc,local,home/.ssh,cg} "$TB_DIR"/{cache,local,shared}
  touch "$TB_DIR/ns/$h.mnt" "$TB_DIR/ns/$h.uts"
  # Inside the new namespaces (the script runs there, so $1..$n are its arguments):
  #  - hostname; private /run/libvirt, /var/lib/libvirt, /var/log/libvirt, /etc/libvirt, a
  #    private /run/one (OpenNebula's node package makes /var/run/one: the guest-exec pid files
  #    of EXEC and its lock live there, read by the monitor's probe), a private /root (the machine's ~/.bashrc costs ~100 ms per ssh command; ~/.ssh/config
  #    knows the other hosts) and the testbed's /etc/hosts;
  #  - one qemu capability cache for all hosts (only the first libvirtd probes qemu);
  #  - $TB_DIR/local: same path, another directory per host (a local datastore);
  #  - KVM-as-TCG: the wrapper over qemu-system-x86_64, the real binary at $TB_DIR/qemu/bin;
  #  - a sysfs of this netns (so /sys/class/net lists the host's own links), cgroups kept;
  #  - the copies of the other hosts' ns-file mounts are dropped (they would pin those ns).
  # shellcheck disable=SC2016 # (expanded by the inner sh)
  nsenter --net="/run/netns/$h" -- \
    unshare --mount="$TB_DIR/ns/$h.mnt" --uts="$TB_DIR/ns/$h.uts" --propagation private \
    sh -ec '
      h=$1 d=$2 tb=$3 tcg=$4
      hostname "$h"
      mount --bind "$d/run" /run/libvirt
      mount --bind "$d/one" /run/one
      mount --bind "$d/lib" /var/lib/libvirt
      mount --bind "$d/log" /var/log/libvirt
      mount --bind "$d/etc" /etc/libvirt
      mount --bind "$tb/cache" /var/cache/libvirt
      mount --bind "$d/home" /root
      mount --bind "$tb/hosts" /etc/hosts
      mount --bind "$d/local" "$tb/local"
      if [ "$tcg" = 1 ]; then
        mount --bind /usr/bin/qemu-system-x86_64 "$tb/qemu/bin/qemu-system-x86_64"
        mount --bind "$tb/bin/qemu-kvm-as-tcg" /usr/bin/qemu-system-x86_64
      fi
      mount --rbind /sys/fs/cgroup "$d/cg"
      mount -t sysfs sysfs /sys
      mount --move "$d/cg" /sys/fs/cgroup
      umount -l "$tb/ns"
    ' sh "$h" "$d" "$TB_DIR" "$TB_KVM_AS_TCG"
}

# Prints the pids of every process in host i's network or mount namespace.
host_pids() {
  local h ino
  h=$(tb_name "$1")
  {
    [[ -e /run/netns/$h ]] && ip netns pids "$h" 2>/dev/null
    if ns_mounted "$TB_DIR/ns/$h.mnt"; then
      # /proc/PID/ns/mnt -> "mnt:[INODE]" of the ns file
      ino=$(stat -L -c %i "$TB_DIR/ns/$h.mnt")
      find /proc/[0-9]*/ns/mnt -maxdepth 0 -lname "mnt:?$ino?" 2>/dev/null | cut -d/ -f3
    fi
  } | sort -un
}

# Kills everything running in host i (sshd, libvirtd, qemu, test commands) and deletes its
# namespaces; the veth goes with the netns.
remove_host() {
  local i=$1 h pids
  h=$(tb_name "$i")
  mapfile -t pids < <(host_pids "$i")
  kill_wait KILL "${pids[@]}"
  ip netns del "$h" 2>/dev/null || true
  umount "$TB_DIR/ns/$h.mnt" "$TB_DIR/ns/$h.uts" 2>/dev/null || true
  ip link del "$(tb_veth "$i")" 2>/dev/null || true
}

# Writes host i's sshd_config; key-only root login, listening on the host's address only.
write_sshd_config() {
  local i=$1 d a
  d=$(tb_hdir "$i") a=$(tb_ip "$i")
  mkdir -p "$d"
  [[ -f $d/ssh_host_ed25519_key ]] ||
    ssh-keygen -q -t ed25519 -N '' -C "$(tb_name "$i")" -f "$d/ssh_host_ed25519_key"
  put_file "$d/sshd_config" <<EOC
ListenAddress $a
HostKey $d/ssh_host_ed25519_key
PidFile $d/sshd.pid
AuthorizedKeysFile $TB_DIR/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
# the key files live under /tmp (mode 1777), which StrictModes rejects
StrictModes no
UseDNS no
# test suites open many connections at once
MaxStartups 200:30:400
MaxSessions 200
Subsystem sftp /usr/lib/openssh/sftp-server
EOC
}

sshd_pid() { pid_of "$(tb_hdir "$1")/sshd.pid" sshd; }

# Starts host i's sshd (it daemonizes and writes its pid file) unless it runs.
start_sshd() {
  local i=$1 d t
  d=$(tb_hdir "$i")
  sshd_pid "$i" >/dev/null && return 0
  write_sshd_config "$i"
  rm -f "$d/sshd.pid"
  tb_exec "$i" "${TB_DAEMON_ENV[@]}" /usr/sbin/sshd -f "$d/sshd_config" -E "$d/sshd.log" \
    </dev/null >>"$d/sshd.stdout" 2>&1 9>&-
  for ((t = 0; t < 50; t++)); do sshd_pid "$i" >/dev/null && return 0; sleep 0.1; done
  die "$(tb_name "$i"): sshd did not start (see $d/sshd.log)"
}

# Kills every sshd of host i, the listener and all sessions: open connections drop.
kill_sshd() {
  local p pids=()
  for p in $(host_pids "$1"); do
    [[ $(cat "/proc/$p/comm" 2>/dev/null) == sshd ]] && pids+=("$p")
  done
  kill_wait KILL "${pids[@]}"
}

# Writes host i's libvirtd.conf and qemu.conf (system mode, no systemd, no virtlogd).
write_libvirt_config() {
  local i=$1 d a
  d=$(tb_hdir "$i") a=$(tb_ip "$i")
  put_file "$d/etc/libvirtd.conf" <<EOC
# distinct per host: libvirt refuses to migrate to "the same host" (README.md §4)
host_uuid = "$(printf '7e57b0ed-0000-4000-8000-%012d' "$i")"
unix_sock_group = "root"
unix_sock_rw_perms = "0700"
auth_unix_ro = "none"
auth_unix_rw = "none"
# qemu+tcp:// on the host's own address only
listen_tls = 0
listen_tcp = 1
listen_addr = "$a"
auth_tcp = "none"
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
# the defaults (5/20) throttle a test suite that opens many connections
max_clients = 200
max_anonymous_clients = 200
max_workers = 20
EOC
  put_file "$d/etc/qemu.conf" <<EOC
# qemu as root, no labels, no cgroups, no per-VM mount ns
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
# no virtlogd: qemu's stdout/stderr go to /var/log/libvirt/qemu/NAME.log
stdio_handler = "file"
# the incoming migration stream listens on, and is sent to, the host's own address
migration_address = "$a"
migration_host = "$a"
EOC
}

libvirtd_pid() { pid_of "$(tb_hdir "$1")/run/libvirtd.pid" libvirtd; }

# Starts host i's libvirtd in the background unless it runs (wait_libvirtd waits for it).
#  - tini -s, a child subreaper: libvirt double-forks qemu and waits until a killed qemu is
#    reaped; this machine's PID 1 reaps only every 1-2 s (destroy: 1.5 s instead of 0.24 s).
#  - taskset to one CPU: libvirt re-probes qemu when the CPUID it sees differs from the cached
#    one, and the APIC-id fields differ between CPUs (restart: 0.1 s instead of 1.5 s).
start_libvirtd() {
  local i=$1 h d cpu
  h=$(tb_name "$i") d=$(tb_hdir "$i")
  libvirtd_pid "$i" >/dev/null && return 0
  write_libvirt_config "$i"
  cpu=$(taskset -pc $$ | sed 's/.*: //; s/[-,].*//')
  rm -f "$d/run/libvirtd.pid"
  # exec: no shell lingers in the root ns; setsid: off the caller's session and process group
  (exec nsenter --net="/run/netns/$h" --mount="$TB_DIR/ns/$h.mnt" --uts="$TB_DIR/ns/$h.uts" -- \
    setsid "${TB_DAEMON_ENV[@]}" tini -s -- taskset -c "$cpu" \
    /usr/sbin/libvirtd -l -p /run/libvirt/libvirtd.pid) </dev/null >>"$d/log/libvirtd.stdout" 2>&1 9>&- &
}

# Waits (up to 30 s) until host i's libvirtd answers.
wait_libvirtd() {
  local i=$1 t
  for ((t = 0; t < 300; t++)); do
    libvirtd_ready "$i" && return 0
    sleep 0.1
  done
  die "$(tb_name "$i"): libvirtd did not answer in 30 s (see $(tb_hdir "$i")/log/libvirtd.log)"
}

libvirtd_ready() { tb_exec "$1" timeout 5 virsh -q -c qemu:///system version >/dev/null 2>&1; }

# Stops host i's libvirtd (SIGTERM, as a service stop would); its guests keep running.
stop_libvirtd() {
  local p
  p=$(libvirtd_pid "$1") || return 0
  kill_wait TERM "$p"
}
