#!/usr/bin/env bash
# End to end: AAAA answers from a node with an IPv6 address range, in a network namespace
# this test makes (unshare -n), where all of 2001:db8:77::/64 is made local on `lo` (a
# `local` route), so the agent can bind its standby sockets there. `prewarm up --runtime
# fake`: two agents in frankfurt, fra-4 on 127.77.1.0/24 and fra-6 on 2001:db8:77::/64.
#  1. AAAA is answered with an instance on fra-6, A with one on fra-4; each family's cold
#     start went to the node of that family.
#  2. The IPv6 instance serves its preloaded content over IPv6.
#  3. ECS family 2: an IPv6 client subnet matched by a `networks:` /48 gets scope 48.
# Nothing outside the namespace is touched.
# Usage: dns_ipv6_test.sh PATH/TO/prewarm
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
PREWARM=${1:?usage: dns_ipv6_test.sh PATH/TO/prewarm}
if [[ -z "${PREWARM_IN_NETNS:-}" ]]; then
  require_root_and unshare ip kdig curl
  PREWARM_IN_NETNS=1 exec unshare -n bash "$0" "$@"
fi

ip link set lo up
# A `local` route delivers the whole /64 to this host; IPv6 (unlike IPv4) still refuses to
# bind an address of it that is not assigned, unless nonlocal binds are allowed. Both are
# settings of this namespace only.
ip -6 route add local 2001:db8:77::/64 dev lo || { echo "FAIL: cannot route 2001:db8:77::/64 to lo"; exit 1; }
sysctl -qw net.ipv6.ip_nonlocal_bind=1 || { echo "FAIL: cannot set net.ipv6.ip_nonlocal_bind"; exit 1; }
WORK=$(mktemp -d /tmp/prewarm-e2e-dns-ipv6.XXXXXX)
agent() {  # agent ID RANGE
  cat <<YAML
  - node: {id: $1, region: frankfurt, latitude: 50.11, longitude: 8.68}
    orchestrator: 127.0.0.1:7400
    origin: http://127.0.0.1:8400
    capacity: {slots: 4, memory: 2GiB}
    addresses: {range: "$2", port: 80, standby: 2}
    runtime: {kind: oci, state_dir: $WORK/state-$1}
    templates:
YAML
  static_template
}
{
  cat <<YAML
log_level: info
origin_server: {listen: 127.0.0.1:8400, fallback: 127.77.0.1:80, root: ""}
orchestrator:
  zone: edge.example.
  dns: {listen: 127.0.0.1:5353, udp_threads: 1, tcp: true}
  grpc: {listen: 127.0.0.1:7400}
  http: {listen: 127.0.0.1:9400}
  origin: {addresses: [127.77.0.1], port: 80}
  services:
    - {name: static, template: static}
  regions:
    - {name: frankfurt, latitude: 50.11, longitude: 8.68}
    - {name: singapore, latitude: 1.35, longitude: 103.82}
  networks:
    - {cidr: 127.0.0.0/8, region: frankfurt}
    - {cidr: "2001:db8:5::/48", region: frankfurt}
  default_region: frankfurt
agents:
YAML
  agent fra-4 127.77.1.0/24
  agent fra-6 2001:db8:77::/64
} >"$WORK/up.yaml"

start_up "$WORK/up.log" --config "$WORK/up.yaml" --runtime fake
cleanup() {
  stop_up
  rm -rf "$WORK"
}
trap cleanup EXIT
two_nodes() { curl -sf http://127.0.0.1:9400/healthz | grep -q "nodes=2"; }
check "prewarm up runs with both agents" wait_until 60 two_nodes
stop_if_failed "$WORK/up.log"

q() { kdig @127.0.0.1 -p 5353 +timeout=2 +retry=0 static.edge.example "$@"; }
AAAA=$(q AAAA +short | head -1)
check "AAAA names an address of fra-6's IPv6 range (got '$AAAA')" \
  grep -Eq '^2001:db8:77::[0-9a-f]+$' <<<"$AAAA"
A=$(q A +short | head -1)
check "A names an address of fra-4's IPv4 range (got '$A')" grep -Eq '^127\.77\.1\.[0-9]+$' <<<"$A"

serves() { curl -sfg --max-time 2 "http://[$AAAA]/" | grep -q "prewarmed edge instance"; }
check "the IPv6 instance serves its preloaded content over IPv6" wait_until 30 serves

S=$(q AAAA +subnet=2001:db8:5:100::/56 | sed -n 's|.*CLIENT-SUBNET: 2001:db8:5:100::/56/||p')
check "an IPv6 client subnet (family 2) gets the /48 of its network as scope (got '$S')" \
  test "$S" = 48
finish
