# shellcheck shell=bash
# Settings, names and small helpers shared by the testbed scripts (sourced, not run).
#
# Every "host" $TB_PREFIX<i> is a network namespace (/run/netns/<name>) plus a mount and a UTS
# namespace kept alive as bind-mounted ns files under $TB_DIR/ns. Its sshd, libvirtd and qemu
# processes all live in those three namespaces. Recipe: shared/testbed/README.md §1.

TB_DIR=${TB_DIR:-/tmp/onevmm-tb}     # all state: keys, configs, logs, ns files, the guest
TB_DIR=${TB_DIR%/}
TB_NET=${TB_NET:-10.77.0}            # test subnet $TB_NET.0/24: only on $TB_BR and in our netns
TB_BR=${TB_BR:-tbbr0}                # bridge in the root netns, address $TB_NET.1
TB_PREFIX=${TB_PREFIX:-tb-h}         # host name = netns name = hostname = ssh alias prefix
TB_KVM_AS_TCG=${TB_KVM_AS_TCG:-1}    # 1: type='kvm' guests run under TCG (qemu-kvm-as-tcg)
TB_GUEST_DIR=${TB_GUEST_DIR:-$TB_DIR/guest}  # vmlinuz + initrd.gz (build-guest.sh)
TB_LOCK=${TB_LOCK:-$TB_DIR.lock}     # serializes up/down/faults (outside $TB_DIR: down removes it)
# (the next two are used by the scripts that source this file)
# shellcheck disable=SC2034
TB_MAX_HOSTS=50                      # keeps veth names (${TB_BR}v<i>) within 15 characters
# A clean environment for the daemons: npm's variables and a node_modules PATH stay out.
# shellcheck disable=SC2034
TB_DAEMON_ENV=(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8)

log() { printf '%s\n' "$*"; }
die() { printf 'testbed: %s\n' "$*" >&2; exit 1; }

# Refuses settings that would break a config file or a name, before anything is touched.
tb_validate_settings() {
  # at least two levels, no "." or ".." (down runs rm -rf on it)
  [[ $TB_DIR =~ ^(/[A-Za-z0-9_][A-Za-z0-9._-]*){2,}$ ]] \
    || die "TB_DIR must be an absolute path like /tmp/onevmm-tb, of [A-Za-z0-9._-] (got '$TB_DIR')"
  if ! [[ $TB_NET =~ ^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$ ]] ||
    ((BASH_REMATCH[1] > 255 || BASH_REMATCH[2] > 255 || BASH_REMATCH[3] > 255)); then
    die "TB_NET must be three octets such as 10.77.0 (got '$TB_NET')"
  fi
  [[ $TB_BR =~ ^[A-Za-z][A-Za-z0-9_-]{0,11}$ ]] \
    || die "TB_BR must be 1-12 characters [A-Za-z0-9_-] (got '$TB_BR')"
  [[ $TB_PREFIX =~ ^[a-z][a-z0-9-]{0,40}$ ]] \
    || die "TB_PREFIX must be a hostname prefix [a-z0-9-] (got '$TB_PREFIX')"
  [[ $TB_KVM_AS_TCG == [01] ]] || die "TB_KVM_AS_TCG must be 0 or 1 (got '$TB_KVM_AS_TCG')"
}

tb_name() { echo "$TB_PREFIX$1"; }             # host i -> tb-hi
tb_ip()   { echo "$TB_NET.$((10 + $1))"; }     # host i -> 10.77.0.(10+i)
tb_veth() { echo "${TB_BR}v$1"; }              # host i's veth end on the bridge (root netns)
tb_hdir() { echo "$TB_DIR/$(tb_name "$1")"; }  # host i's state directory

# Runs a command inside host i's network, mount and UTS namespaces.
tb_exec() {
  local h; h=$(tb_name "$1"); shift
  nsenter --net="/run/netns/$h" --mount="$TB_DIR/ns/$h.mnt" --uts="$TB_DIR/ns/$h.uts" -- "$@"
}

# Host count recorded by `up` (0 when there is no testbed).
tb_nhosts() { cat "$TB_DIR/nhosts" 2>/dev/null || echo 0; }

# Indices of the hosts that exist in any form: recorded by `up`, or a leftover netns.
tb_known_hosts() {
  local n i
  n=$(tb_nhosts)
  {
    for ((i = 1; i <= n; i++)); do echo "$i"; done
    ip netns list 2>/dev/null | awk '{print $1}' | sed -n "s/^${TB_PREFIX}\([0-9][0-9]*\)\$/\1/p"
  } | sort -nu
}

# Alive = exists and is not a zombie (PID 1 on this kind of machine reaps orphans slowly).
alive() {
  [[ -n $1 && -e /proc/$1 ]] && [[ $(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1) != Z ]]
}

# Prints the pid in FILE if that process is alive and its command name is NAME.
pid_of() {
  local file=$1 name=$2 pid
  pid=$(cat "$file" 2>/dev/null) || return 1
  alive "$pid" && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$name" ]] && echo "$pid"
}

# Sends SIGNAL to the pids given, then waits up to 5 s for them to die (SIGKILL after that).
kill_wait() {
  local sig=$1 t; shift
  (($# > 0)) || return 0
  kill "-$sig" "$@" 2>/dev/null || true
  for ((t = 0; t < 50; t++)); do
    any_alive "$@" || return 0
    sleep 0.1
  done
  kill -KILL "$@" 2>/dev/null || true
}
any_alive() { local p; for p in "$@"; do alive "$p" && return 0; done; return 1; }

# True when FILE is a bind-mounted namespace file (as `unshare --mount=FILE` leaves it).
ns_mounted() { [[ $(findmnt -n -o FSTYPE --mountpoint "$1" 2>/dev/null) == nsfs ]]; }

# Seconds since the epoch with microseconds, and the time since T0 as "1.23".
now()   { echo "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'; }

# Takes the testbed lock (fd 9). Every daemon we start closes fd 9, so it never holds the lock.
tb_lock() {
  exec 9>>"$TB_LOCK"
  flock -w 600 9 || die "another testbed command holds $TB_LOCK"
}

# Writes stdin to FILE only if the content changed. Written in place (same inode): some of
# these files are bind-mounted into the hosts, and a rename would hide the new content there.
put_file() {
  local file=$1 tmp
  tmp=$(mktemp "$file.XXXXXX")
  cat >"$tmp"
  if cmp -s "$tmp" "$file"; then rm -f "$tmp"; else cat "$tmp" >"$file"; rm -f "$tmp"; fi
}
