#!/usr/bin/env bash
# zonemaster-cli (Debian) against the orchestrator's DNS, undelegated (--ns), in a network
# namespace this test creates: two nameserver addresses (45.0.0.53, 45.0.1.53, only
# inside the namespace) on lo, the orchestrator on port 53 of both, no agents. No ERROR
# or CRITICAL; every WARNING must be one docs/design.md explains ("zonemaster").
# Usage: dns_zonemaster_test.sh PATH/TO/prewarm
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
PREWARM=${1:?usage: dns_zonemaster_test.sh PATH/TO/prewarm}
[[ $(id -u) -eq 0 ]] || { echo "SKIP: needs root (a network namespace)"; exit 77; }
command -v zonemaster-cli >/dev/null || { echo "SKIP: zonemaster-cli not installed"; exit 77; }
unshare -n true 2>/dev/null || { echo "SKIP: cannot create a network namespace"; exit 77; }

WORK=$(mktemp -d /tmp/prewarm-e2e-zonemaster.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cat >"$WORK/orch.yaml" <<YAML
zone: edge.example.
nameservers:
  - {name: ns1.edge.example., addresses: [45.0.0.53]}
  - {name: ns2.edge.example., addresses: [45.0.1.53]}
dns: {listen: 0.0.0.0:53}
grpc: {listen: 127.0.0.1:7413}
http: {listen: 127.0.0.1:9413}
origin: {addresses: [192.0.2.80], check: false}
services: [{name: static, template: static}]
regions: [{name: frankfurt, latitude: 50.11, longitude: 8.68}]
default_region: frankfurt
YAML

# Everything below runs inside the namespace; the orchestrator dies with it.
cat >"$WORK/inside.sh" <<'INSIDE'
set -u
ip link set lo up
ip addr add 45.0.0.53/32 dev lo
ip addr add 45.0.1.53/32 dev lo
"$1" orchestrator --config "$2/orch.yaml" >"$2/orch.log" 2>&1 &
orch=$!
for _ in $(seq 1 150); do
  dig @45.0.0.53 +short +time=1 +tries=1 edge.example SOA 2>/dev/null | grep -q '^[^;]' && break
  sleep 0.2
done
timeout 300 zonemaster-cli --no-ipv6 --level NOTICE --no-progress \
  --ns ns1.edge.example/45.0.0.53 --ns ns2.edge.example/45.0.1.53 edge.example \
  >"$2/zonemaster.out" 2>&1
echo $? >"$2/zonemaster.rc"
kill -TERM "$orch"
wait "$orch"
INSIDE
unshare -n bash "$WORK/inside.sh" "$PREWARM" "$WORK"
cat "$WORK/zonemaster.out"
check "zonemaster-cli ran to the end" grep -q "^=======" "$WORK/zonemaster.out"
# Its later modules ran (the DNSSEC one reports the unsigned zone as a NOTICE).
check "zonemaster-cli ran its test modules through DNSSEC" grep -q "not signed with DNSSEC" "$WORK/zonemaster.out"
check "no CRITICAL" bash -c "! grep -E '^ *[0-9.]+ +CRITICAL' '$WORK/zonemaster.out'"
check "no ERROR" bash -c "! grep -E '^ *[0-9.]+ +ERROR' '$WORK/zonemaster.out'"
# The namespace has no reverse zones: the PTR lookups of the nameserver addresses get no
# answer. That is the test's network, not the server (docs/design.md, "zonemaster").
unexplained=$(grep -E '^ *[0-9.]+ +WARNING' "$WORK/zonemaster.out" |
  grep -v "No response from nameserver(s) on PTR query" || true)
check "every WARNING is explained" test -z "$unexplained"
[[ -n "$unexplained" ]] && echo "unexplained: $unexplained"
if ((FAILED > 0)); then tail -30 "$WORK/orch.log"; fi
finish
