#!/bin/bash
# testbed.sh — fake hypervisor hosts on this machine for onevmm's end-to-end tests.
#
#   testbed.sh up [N]      N hosts (default 2) tb-h1..tb-hN, each a network + mount + UTS
#                          namespace with its own sshd and libvirtd, plus the tiny guest.
#                          Installs missing Debian packages. Safe to rerun: repairs what is
#                          missing, leaves what runs alone.
#   testbed.sh down        kills guests, libvirtd and sshd, deletes namespaces, links and
#                          $TB_DIR. Safe to rerun, and after a failed `up`.
#   testbed.sh status      hosts, addresses, sshd/libvirtd alive, the kvmrc lines that reach
#                          them (also written to $TB_DIR/kvmrc); non-zero unless fully up.
# Fault injection and access, host given by number (1) or name (tb-h1):
#   testbed.sh exec HOST CMD...                  run CMD inside the host's namespaces
#   testbed.sh link-down|link-up HOST            cut / restore the host's link to the bridge
#   testbed.sh sshd-kill|sshd-start HOST         kill every sshd of the host (sessions too) / start it
#   testbed.sh libvirtd-stop|libvirtd-start HOST stop libvirtd (guests keep running) / start it
#
# Settings (environment): TB_DIR=/tmp/onevmm-tb  TB_NET=10.77.0 (the /24 used only inside
# our namespaces)  TB_BR=tbbr0  TB_PREFIX=tb-h  TB_KVM_AS_TCG=1  TB_GUEST_DIR=$TB_DIR/guest.
# Host i is $TB_NET.(10+i). See testbed/README.md; recipes in shared/testbed/.
set -euo pipefail
TB_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib/env.sh
. "$TB_SRC/lib/env.sh"
# shellcheck source=lib/deps.sh
. "$TB_SRC/lib/deps.sh"
# shellcheck source=lib/net.sh
. "$TB_SRC/lib/net.sh"
# shellcheck source=lib/host.sh
. "$TB_SRC/lib/host.sh"
# shellcheck source=lib/client.sh
. "$TB_SRC/lib/client.sh"

# True when the cached guest is complete and was built by the current build-guest.sh.
guest_ok() {
  [[ -s $TB_GUEST_DIR/vmlinuz && -s $TB_GUEST_DIR/initrd.gz ]] &&
    [[ $(cat "$TB_GUEST_DIR/.stamp" 2>/dev/null) == "$(sha256sum "$TB_SRC/build-guest.sh" | cut -d' ' -f1)" ]]
}

cmd_up() {
  local n=${1:-2} t0 t i p guest_pid='' guest_t=cached pkg_t
  if ! [[ $n =~ ^[0-9]+$ ]] || ((n < 1 || n > TB_MAX_HOSTS)); then
    die "up: N must be 1..$TB_MAX_HOSTS (got '$n')"
  fi
  t0=$(now)
  mkdir -p "$(dirname "$TB_DIR")"
  tb_lock
  ((n >= $(tb_nhosts))) || n=$(tb_nhosts) # never drop hosts of a running testbed

  # the network check comes first, and again below once the packages are there
  if command -v ip >/dev/null; then check_subnet_free; fi
  t=$(now)
  install_packages
  pkg_t=$(since "$t")
  [[ -e /dev/kvm ]] || log "note: no /dev/kvm: libvirt offers only type='qemu' domains here"

  check_subnet_free

  mkdir -p "$TB_DIR"
  echo "$n" >"$TB_DIR/nhosts" # first: marks the directory as a testbed's (down removes it)
  mkdir -p "$TB_DIR"/{ns,bin,cache,shared,local}
  # bound ns files must sit on a private mount (else the bind fails or loops)
  mountpoint -q "$TB_DIR/ns" || { mount --bind "$TB_DIR/ns" "$TB_DIR/ns" && mount --make-private "$TB_DIR/ns"; }
  for p in "${TB_BIND_POINTS[@]}"; do mkdir -p "$p"; done

  # the guest builds in the background while the hosts come up
  if ! guest_ok; then
    guest_t=$(now)
    "$TB_SRC/build-guest.sh" "$TB_GUEST_DIR" >"$TB_DIR/build-guest.log" 2>&1 9>&- &
    guest_pid=$!
    # if `up` fails before waiting for it, the build must not outlive it
    TB_GUEST_PID=$guest_pid
    trap 'kill "$TB_GUEST_PID" 2>/dev/null || true' EXIT
  fi

  # a host with only some of its namespaces (an `up` that died half-way) is rebuilt whole
  for ((i = 1; i <= n; i++)); do
    if [[ $(host_ns_state "$i") == partial ]]; then
      log "$(tb_name "$i"): namespaces incomplete, recreating the host"
      remove_host "$i"
    fi
  done
  ensure_bridge
  ensure_client_key
  install_qemu_wrapper
  for ((i = 1; i <= n; i++)); do
    ensure_netns "$i"
    write_sshd_config "$i"
  done
  check_subnet_routed "$n"
  write_ssh_files "$n" # before the mount ns: /etc/hosts is bound from $TB_DIR/hosts
  for ((i = 1; i <= n; i++)); do
    ns_mounted "$TB_DIR/ns/$(tb_name "$i").mnt" || create_host_ns "$i"
    start_sshd "$i"
  done
  # the first libvirtd probes qemu's capabilities into the shared cache; the others reuse it
  start_libvirtd 1
  wait_libvirtd 1
  for ((i = 2; i <= n; i++)); do start_libvirtd "$i"; done
  for ((i = 2; i <= n; i++)); do wait_libvirtd "$i"; done
  wait_ssh "$n"

  if [[ -n $guest_pid ]]; then
    wait "$guest_pid" || { cat "$TB_DIR/build-guest.log" >&2; die "guest build failed"; }
    trap - EXIT
    guest_t="built in $(since "$guest_t") s"
  fi
  write_test_files "$n"
  log "testbed up: $n hosts in $(since "$t0") s (packages ${pkg_t} s, guest ${guest_t})"
  status_report
}

# Waits until every host answers ssh from the root netns (key, known_hosts, the lot).
wait_ssh() {
  local n=$1 i t
  for ((i = 1; i <= n; i++)); do
    for ((t = 0; t < 50; t++)); do
      "$TB_DIR/bin/ssh" "$(tb_name "$i")" true 2>/dev/null && continue 2
      sleep 0.1
    done
    "$TB_DIR/bin/ssh" "$(tb_name "$i")" true || die "$(tb_name "$i"): ssh does not answer"
  done
}

cmd_down() {
  local t0 i tgt
  t0=$(now)
  tb_lock
  for i in $(tb_known_hosts); do remove_host "$i"; done
  ip link del "$TB_BR" 2>/dev/null || true
  # leftover veths of hosts whose netns was already gone
  for tgt in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' | grep -E "^${TB_BR}v[0-9]+$" || true); do
    ip link del "$tgt" 2>/dev/null || true
  done
  # every mount under $TB_DIR (the private ns dir, ns files), deepest first
  for tgt in $(findmnt -rn -o TARGET | grep -E "^$TB_DIR(/|$)" | awk '{print length, $0}' | sort -rn | cut -d' ' -f2-); do
    umount "$tgt" 2>/dev/null || umount -l "$tgt"
  done
  # $TB_DIR/nhosts is the first file `up` writes: without it, the directory is not ours
  if [[ -e $TB_DIR/nhosts ]]; then
    rm -rf --one-file-system "$TB_DIR"
  elif [[ -e $TB_DIR ]]; then
    log "$TB_DIR has no nhosts file: not a testbed directory, left alone"
  fi
  log "testbed down in $(since "$t0") s"
}

# Prints hosts and kvmrc lines; returns non-zero unless everything is up.
status_report() {
  local n i h a ok=1 sshd lvd link line
  n=$(tb_nhosts)
  if ((n == 0)) || [[ ! -d $TB_DIR ]]; then
    log "testbed $TB_DIR: not up"
    return 1
  fi
  log "testbed $TB_DIR: $n hosts, bridge $TB_BR $TB_NET.1/24"
  if ! (check_subnet_routed "$n") 2>/dev/null; then
    log "  route: $TB_NET.0/24 is NOT routed via $TB_BR"
    ok=0
  fi
  for ((i = 1; i <= n; i++)); do
    h=$(tb_name "$i") a=$(tb_ip "$i")
    sshd=down lvd=down
    if [[ $(host_ns_state "$i") == ok ]]; then
      # listening, checked from inside the host: a cut link (link-down) is reported apart
      sshd_pid "$i" >/dev/null && tb_exec "$i" timeout 2 bash -c ": </dev/tcp/$a/22" 2>/dev/null && sshd=up
      libvirtd_pid "$i" >/dev/null && libvirtd_ready "$i" && lvd=up
    fi
    link=$(link_state "$i")
    [[ $sshd == up && $lvd == up && $link == up ]] || ok=0
    printf '  %-10s %-15s sshd %-4s libvirtd %-4s link %s\n' "$h" "$a" "$sshd" "$lvd" "$link"
  done
  if guest_ok; then
    log "  guest: $TB_GUEST_DIR/vmlinuz $TB_GUEST_DIR/initrd.gz"
  else
    log "  guest: missing"
    ok=0
  fi
  if [[ -f $TB_DIR/id_ed25519 && -f $TB_DIR/known_hosts ]]; then
    write_test_files "$n"
    log "kvmrc ($TB_DIR/kvmrc):"
    while IFS= read -r line; do log "  $line"; done < <(kvmrc_lines)
    log "ssh: ssh -F $TB_DIR/ssh_config $(tb_name 1)   (or PATH=$TB_DIR/bin:\$PATH)"
  else
    ok=0
  fi
  ((ok)) || { log "testbed is NOT fully up (run: testbed.sh up)"; return 1; }
}

# Host number from "3" or "tb-h3"; it must be one of the testbed's hosts.
host_index() {
  local arg=${1:-} i
  i=${arg#"$TB_PREFIX"}
  if ! [[ $i =~ ^[0-9]+$ ]] || ((i < 1 || i > $(tb_nhosts))); then
    die "no such host '$arg' (have 1..$(tb_nhosts))"
  fi
  echo "$i"
}

main() {
  (($(id -u) == 0)) || die "must run as root (namespaces, mounts, apt)"
  tb_validate_settings
  local cmd=${1:-}
  shift || true
  case $cmd in
    up) cmd_up "$@" ;;
    down) cmd_down ;;
    status) status_report ;;
    exec)
      local i; i=$(host_index "${1:-}"); shift
      tb_exec "$i" "$@"
      ;;
    link-down | link-up)
      local i; i=$(host_index "${1:-}")
      set_link "$i" "${cmd#link-}"
      ;;
    sshd-kill) local i; i=$(host_index "${1:-}"); tb_lock; kill_sshd "$i" ;;
    sshd-start) local i; i=$(host_index "${1:-}"); tb_lock; start_sshd "$i" ;;
    libvirtd-stop) local i; i=$(host_index "${1:-}"); tb_lock; stop_libvirtd "$i" ;;
    libvirtd-start) local i; i=$(host_index "${1:-}"); tb_lock; start_libvirtd "$i"; wait_libvirtd "$i" ;;
    *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
  esac
}

main "$@"
