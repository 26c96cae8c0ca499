#!/bin/bash
# oned-kit.sh — a real OpenNebula front-end (the shared/oned kit: oned master 7.5.80) against a
# testbed of its own, for the real-oned e2e suite and by hand.
#
#   oned-kit.sh up [DRIVER] testbed (2 hosts), the kit's packages, oned with that VM_MAD kvm
#                           driver, the kit's objects (setup.py) and ours: a system datastore
#                           with the ssh TM whose folder is private to each host, and an rsync
#                           backup datastore on the last host. DRIVER:
#                             onevmm (default)   bin/one_vmm_exec of this checkout
#                             opennebula         OpenNebula's own driver, as the kit ships it
#                             opennebula-local   OpenNebula's driver running onevmm's
#                                                remotes/vmm/kvm executables as local actions
#                                                (-l), linked into the kit's remotes
#                           Safe to rerun; with another driver, or a build of onevmm newer than
#                           the running oned, oned restarts on the same DB.
#   oned-kit.sh down        stops oned, undoes the host binds, takes the testbed down.
#   oned-kit.sh stop-oned   stops oned only: the hosts and their OpenNebula remotes stay (for
#                           `npm run bench -- action-cost`, which drives both drivers itself).
#   oned-kit.sh status      which driver runs, oned's hosts and VMs; exit 3 when oned is down.
#   oned-kit.sh env         `export` lines: ONE_LOCATION, ONE_XMLRPC, ONE_AUTH, the TB_* settings.
#
# The kit (not part of this project: it is called, never copied) is found at
# $ONEVMM_ONED_KIT, else ../shared/oned beside this checkout. Without it, `up` says so in one
# line and exits 4. Settings: ONE_LOCATION [/tmp/onevmm-kit-one], ONE_PORT [2733],
# ONE_MONITOR_PORT [4224], and the testbed's: TB_DIR [/tmp/onevmm-kit], TB_NET [10.77.2],
# TB_BR [tbkit0], TB_PREFIX [tk-h] (all four differ from the main testbed's, so both can run).
# Needs root and Debian 12, as the testbed does. See README.md "A real oned".
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
KIT=${ONEVMM_ONED_KIT:-$(cd "$ROOT/.." && pwd)/shared/oned}
export TB_DIR=${TB_DIR:-/tmp/onevmm-kit} TB_NET=${TB_NET:-10.77.2} TB_BR=${TB_BR:-tbkit0}
export TB_PREFIX=${TB_PREFIX:-tk-h} ONE_LOCATION=${ONE_LOCATION:-/tmp/onevmm-kit-one}
export ONE_PORT=${ONE_PORT:-2733} ONE_MONITOR_PORT=${ONE_MONITOR_PORT:-4224}
# The guest of the main testbed, when it is built already, spares a download.
MAIN_GUEST=${MAIN_GUEST:-/tmp/onevmm-tb/guest}
NHOSTS=2
SSH_DS_NAME=onevmm-ssh-system
BACKUP_DS_NAME=onevmm-backups
STATE=$ONE_LOCATION/var/kit/onevmm

log() { printf 'oned-kit: %s\n' "$*"; }
die() { printf 'oned-kit: %s\n' "$*" >&2; exit 1; }

kit_present() {
  [[ -x $KIT/oned.sh && -f $KIT/one-fe.tar.xz ]]
}

# one.py with this kit's oned
one() { ONE_XMLRPC=http://127.0.0.1:$ONE_PORT/RPC2 ONE_AUTH=$ONE_LOCATION/one_auth python3 "$KIT/one.py" "$@"; }

tbexec() { bash "$HERE/testbed.sh" exec "$@"; }

# oned.sh up, again if it fails at once: its check `ip -o addr show | grep -q` dies of SIGPIPE
# under pipefail now and then (seen here, three times in a row once), before it touched anything.
oned_up() {
  local driver=$1 out
  for attempt in 1 2 3 4 5 6; do
    if out=$(VMM_DRIVER=$driver "$KIT/oned.sh" up 2>&1); then
      printf '%s\n' "$out" | sed 's/^/  /'
      return 0
    fi
    if [[ $out == *"is not a local address"* && $attempt -lt 6 ]]; then
      sleep 0.5
      continue
    fi
    printf '%s\n' "$out" >&2
    return 1
  done
}

current_driver() { cat "$ONE_LOCATION/var/kit/driver" 2>/dev/null || true; }

oned_running() { "$KIT/oned.sh" status >/dev/null 2>&1; }

# oned refuses to start while $ONE_LOCATION/var/lock/.lock exists (it creates it exclusively
# and removes it on a clean stop). An oned that died, or a machine restored from a snapshot
# with this /tmp but none of its processes, leaves it behind: remove it when no process runs
# this ONE_LOCATION's oned.
clear_stale_lock() {
  local lock=$ONE_LOCATION/var/lock/.lock p
  [[ -e $lock ]] || return 0
  for p in /proc/[0-9]*; do
    if [[ $(readlink "$p/exe" 2>/dev/null) == "$ONE_LOCATION/bin/oned" ]]; then
      die "an oned (pid ${p#/proc/}) runs from $ONE_LOCATION without the kit's pid file; stop it first"
    fi
  done
  rm -f "$lock"
  log "removed the lock of an oned that is gone ($lock)"
}

# Our system datastore with the ssh TM: each host has its own folder there (a bind in its mount
# namespace), as hosts of a non-shared datastore do; the front-end has its own too.
ssh_datastore() {
  local id path i host_dir
  id=$(python3 - "$KIT" "$SSH_DS_NAME" <<'PY'
import os, sys, xml.etree.ElementTree as ET
sys.path.insert(0, sys.argv[1])
from one import call
name = sys.argv[2]
for d in ET.fromstring(call("one.datastorepool.info")):
    if d.findtext("NAME") == name:
        print(d.findtext("ID")); break
else:
    print(call("one.datastore.allocate", 'NAME="%s"\nTYPE="SYSTEM_DS"\nTM_MAD="ssh"' % name, -1))
PY
)
  path=$ONE_LOCATION/var/datastores/$id
  mkdir -p "$path"
  for ((i = 1; i <= NHOSTS; i++)); do
    host_dir=$TB_DIR/$TB_PREFIX$i/datastore-$id
    mkdir -p "$host_dir"
    tbexec "$i" sh -c 'mountpoint -q "$1" || mount --bind "$2" "$1"' sh "$path" "$host_dir"
  done
  echo "$id" >"$STATE.ssh-ds"
}

# A backup datastore for BACKUP: OpenNebula's rsync driver, the backups kept on the second host.
backup_datastore() {
  python3 - "$KIT" "$BACKUP_DS_NAME" "$TB_NET.$((10 + NHOSTS))" <<'PY' >"$STATE.backup-ds"
import sys, xml.etree.ElementTree as ET
sys.path.insert(0, sys.argv[1])
from one import call
name, host = sys.argv[2], sys.argv[3]
for d in ET.fromstring(call("one.datastorepool.info")):
    if d.findtext("NAME") == name:
        # what a run that stopped half-way may have changed (the e2e suite points it elsewhere)
        call("one.datastore.update", int(d.findtext("ID")),
             'RSYNC_HOST="%s"\nRSYNC_USER="root"\nRSYNC_ARGS="-aS"' % host, 1)
        print(d.findtext("ID")); break
else:
    print(call("one.datastore.allocate", 'NAME="%s"\nTYPE="BACKUP_DS"\nDS_MAD="rsync"\nTM_MAD="-"\n'
               'RSYNC_HOST="%s"\nRSYNC_USER="root"' % (name, host), -1))
PY
}

unbind_ssh_datastore() {
  local id path i
  id=$(cat "$STATE.ssh-ds" 2>/dev/null) || return 0
  path=$ONE_LOCATION/var/datastores/$id
  for ((i = 1; i <= NHOSTS; i++)); do
    [[ -e /run/netns/$TB_PREFIX$i ]] || continue
    tbexec "$i" sh -c 'if mountpoint -q "$1"; then umount "$1"; fi' sh "$path" || true
  done
}

# The kit's remotes/vmm/kvm: onevmm's executables for opennebula-local (OpenNebula's kept aside
# as <name>.opennebula), OpenNebula's own otherwise. The hosts never run them (all VMM actions
# are local in that mode).
link_remotes() {
  local kvm=$ONE_LOCATION/var/remotes/vmm/kvm f name
  [[ -d $kvm ]] || return 0
  if [[ $1 == opennebula-local ]]; then
    for f in "$ROOT"/remotes/vmm/kvm/*; do
      name=$(basename "$f")
      if [[ -e $kvm/$name && ! -L $kvm/$name && ! -e $kvm/$name.opennebula ]]; then mv "$kvm/$name" "$kvm/$name.opennebula"; fi
      ln -sfn "$f" "$kvm/$name"
    done
  else
    for f in "$kvm"/*; do
      [[ -L $f && $(readlink "$f") == "$ROOT"/* ]] || continue
      rm -f "$f"
      if [[ -e $f.opennebula ]]; then mv "$f.opennebula" "$f"; fi
    done
  fi
  # The hosts' copy (SCRIPTS_REMOTE_DIR, which the monitor driver syncs only when it starts
  # monitoring a host) must follow, or OpenNebula's driver would run a stale one there.
  local i
  for ((i = 1; i <= NHOSTS; i++)); do
    if [[ -d $ONE_LOCATION/var/kit/hosts/$i/vartmpone/vmm ]]; then
      rsync -aL --delete "$kvm/" "$ONE_LOCATION/var/kit/hosts/$i/vartmpone/vmm/kvm/"
    fi
  done
}

cmd_up() {
  local want=${1:-onevmm} driver t0=$SECONDS
  case $want in
    onevmm) driver=$ROOT/bin/one_vmm_exec ;;
    opennebula) driver=$ONE_LOCATION/lib/mads/one_vmm_exec ;;
    opennebula-local) driver=$HERE/opennebula-local-driver ;;
    *) die "up: the driver is onevmm, opennebula or opennebula-local, not '$want'" ;;
  esac
  if ! kit_present; then
    echo "oned-kit: no OpenNebula front-end kit at $KIT (oned.sh, one-fe.tar.xz); set ONEVMM_ONED_KIT" >&2
    exit 4
  fi
  [[ $(id -u) == 0 ]] || die "must run as root (namespaces, libvirtd, oned with the testbed's root key)"
  # the testbed's guest: copied from the main testbed when that one is current
  if [[ ! -s $TB_DIR/guest/.stamp && -s $MAIN_GUEST/.stamp ]] &&
    [[ $(cat "$MAIN_GUEST/.stamp") == "$(sha256sum "$HERE/build-guest.sh" | cut -d' ' -f1)" ]]; then
    mkdir -p "$TB_DIR/guest" && cp -a "$MAIN_GUEST/." "$TB_DIR/guest/"
  fi
  bash "$HERE/testbed.sh" up "$NHOSTS" | sed 's/^/  /'
  "$KIT/install-deps.sh" | sed 's/^/  /'
  if oned_running; then
    if [[ $(current_driver) == "$driver" && $want == onevmm && -n $(find "$ROOT/dist" -newer "$ONE_LOCATION/var/kit/oned.pid" -print -quit 2>/dev/null) ]]; then
      # oned started the driver before this build: it would go on running the old code
      log "onevmm was built after oned started: restarting it (same database)"
      "$KIT/oned.sh" down | sed 's/^/  /'
      oned_up "$driver"
    elif [[ $(current_driver) == "$driver" ]]; then
      log "oned already runs with $want"
    else
      log "oned runs with $(current_driver): restarting it with $want (same database)"
      "$KIT/oned.sh" down | sed 's/^/  /'
      oned_up "$driver"
    fi
  else
    clear_stale_lock
    oned_up "$driver"
  fi
  link_remotes "$want"
  python3 "$KIT/setup.py" >/dev/null || die "setup.py: the kit's objects or host monitoring failed (see $ONE_LOCATION/var/oned.log)"
  ssh_datastore
  backup_datastore
  log "up with $want in $((SECONDS - t0)) s: $(one one.system.version) on 127.0.0.1:$ONE_PORT, hosts $TB_NET.11-$TB_NET.$((10 + NHOSTS))"
}

cmd_down() {
  if kit_present && [[ -x $ONE_LOCATION/bin/oned ]]; then
    "$KIT/oned.sh" down | sed 's/^/  /' || true
  fi
  unbind_ssh_datastore
  bash "$HERE/testbed.sh" down | sed 's/^/  /'
  log "down"
}

# oned (and its drivers, and the monitor daemons it left on the hosts) stopped; the hosts and their
# copy of OpenNebula's remotes stay: for benchmarks that drive the VMM drivers without oned.
cmd_stop_oned() {
  if kit_present && oned_running; then "$KIT/oned.sh" down | sed 's/^/  /' || true; fi
  log "oned stopped; the hosts stay up"
}

cmd_status() {
  kit_present || { echo "no kit at $KIT"; return 3; }
  if ! oned_running; then
    echo "oned not running ($ONE_LOCATION)"
    return 3
  fi
  echo "driver: $(current_driver)"
  "$KIT/oned.sh" status
}

cmd_env() {
  echo "export ONE_LOCATION=$ONE_LOCATION ONE_XMLRPC=http://127.0.0.1:$ONE_PORT/RPC2 ONE_AUTH=$ONE_LOCATION/one_auth"
  echo "export TB_DIR=$TB_DIR TB_NET=$TB_NET TB_BR=$TB_BR TB_PREFIX=$TB_PREFIX"
  echo "export ONEVMM_ONED_KIT=$KIT"
}

case ${1:-} in
  up) shift; cmd_up "$@" ;;
  down) cmd_down ;;
  stop-oned) cmd_stop_oned ;;
  status) cmd_status ;;
  env) cmd_env ;;
  *) sed -n '2,27p' "$0"; exit 2 ;;
esac
