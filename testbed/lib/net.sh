# shellcheck shell=bash
# The test network (sourced by testbed.sh): bridge $TB_BR = $TB_NET.1/24 in the root netns, and
# per host a netns joined to it by a veth pair (${TB_BR}v<i> <-> eth0 = $TB_NET.(10+i)/24),
# plus a guest bridge br0 without uplink. The hosts get no default route, so nothing they send
# can leave the machine. Recipe: shared/testbed/setup-hosts.sh, README.md §1 and gotcha 1.

# Refuses to go on if any part of $TB_NET.0/24 is routed or addressed anywhere other than our
# own bridge: traffic meant for the test hosts must never leave through another interface.
check_subnet_free() {
  local net=$TB_NET.0/24 routes addrs
  # routes inside the subnet (root) or containing it (match), in every table; the default
  # route is fine as long as a more specific route on $TB_BR exists (check_subnet_routed).
  routes=$({
    ip -4 route show table all root "$net"
    ip -4 route show table all match "$net"
  } | grep -v '^default' | grep -Ev "(^| )dev $TB_BR( |$)" | sort -u || true)
  addrs=$(ip -4 -o addr show to "$net" | awk -v br="$TB_BR" '$2 != br' || true)
  [[ -z $routes && -z $addrs ]] || die "refusing to start: $net is already in use outside $TB_BR.
  routes: ${routes:-none}
  addresses: ${addrs:-none}
Pick another subnet with TB_NET=... (and TB_BR=..., TB_PREFIX=..., TB_DIR=...)."
}

# Fails unless every host address routes through our bridge (checked before any traffic).
check_subnet_routed() {
  local n=$1 i a route
  for ((i = 1; i <= n; i++)); do
    a=$(tb_ip "$i")
    route=$(ip -4 route get "$a" 2>&1) || die "no route to $a: $route"
    [[ $route =~ (^|\ )dev\ $TB_BR(\ |$) ]] || die "refusing to go on: $a routes via '$route', not $TB_BR"
  done
}

# Creates the bridge (or checks the one there) and gives it $TB_NET.1/24.
ensure_bridge() {
  if ip link show "$TB_BR" >/dev/null 2>&1; then
    ip -d link show "$TB_BR" | grep -qw bridge || die "$TB_BR exists but is not a bridge"
  else
    ip link add "$TB_BR" type bridge
  fi
  ip addr replace "$TB_NET.1/24" dev "$TB_BR"
  ip link set "$TB_BR" up
}

# Creates host i's netns, veth pair and guest bridge br0; fixes whatever of them is missing.
ensure_netns() {
  local i=$1 h v a
  h=$(tb_name "$i") v=$(tb_veth "$i") a=$(tb_ip "$i")
  [[ -e /run/netns/$h ]] || ip netns add "$h"
  if ! ip link show "$v" >/dev/null 2>&1; then
    ip -n "$h" link del eth0 2>/dev/null || true
    ip link add "$v" type veth peer name eth0 netns "$h"
  fi
  ip link set "$v" master "$TB_BR"
  ip link set "$v" up
  ip -n "$h" link set lo up
  ip -n "$h" addr replace "$a/24" dev eth0
  ip -n "$h" link set eth0 up
  ip -n "$h" link show br0 >/dev/null 2>&1 || ip -n "$h" link add br0 type bridge
  ip -n "$h" link set br0 up
}

# Sets host i's link (its veth end on the bridge) up or down: a cable cut for fault tests.
# The route to the subnet stays on $TB_BR either way.
set_link() { ip link set "$(tb_veth "$1")" "$2"; }

# Prints "up" or "down": the operational state of host i's veth on the bridge.
link_state() {
  local flags
  flags=$(ip -o link show "$(tb_veth "$1")" 2>/dev/null) || { echo missing; return; }
  [[ $flags == *' state UP '* ]] && echo up || echo down
}
