#!/usr/bin/env bash
# Differential test against Knot DNS: the orchestrator (no agents: every service is
# answered with the origin's addresses) and Debian's knotd serve the same zone, written
# from what the orchestrator answers; prewarm-dns-diff sends both the same 10,000 seeded
# queries (valid ones in every shape, random case, EDNS versions and sizes, DO, ECS,
# cookies, unknown options; malformed and junk packets) and compares every rcode, flag,
# section and OPT. Intended differences are listed in docs/design.md; any other fails.
# Usage: dns_knot_diff_test.sh PATH/TO/prewarm PATH/TO/prewarm-dns-diff
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
PREWARM=${1:?usage: dns_knot_diff_test.sh PREWARM DNS_DIFF}
DIFF=${2:?usage: dns_knot_diff_test.sh PREWARM DNS_DIFF}
for tool in knotd dig; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed (knot, dnsutils)"; exit 77; }
done

WORK=$(mktemp -d /tmp/prewarm-e2e-knot-diff.XXXXXX)
PORT=5362
KNOT_PORT=5363
ZONE=edge.example.
# RRL off: the comparison sends 10,000 queries from one address (Knot has none configured).
cat >"$WORK/orch.yaml" <<YAML
zone: $ZONE
dns: {listen: 127.0.0.1:$PORT, rrl: {responses_per_s: 0}}
grpc: {listen: 127.0.0.1:7412}
http: {listen: 127.0.0.1:9412}
origin: {addresses: [192.0.2.80, "2001:db8::80"], check: false}
services: [{name: static, template: static}, {name: api, template: api}]
regions: [{name: frankfurt, latitude: 50.11, longitude: 8.68}]
default_region: frankfurt
YAML
"$PREWARM" orchestrator --config "$WORK/orch.yaml" >"$WORK/orch.log" 2>&1 &
ORCH=$!
KNOT=
cleanup() {
  [[ -n "$KNOT" ]] && kill -TERM "$KNOT" 2>/dev/null
  kill -TERM "$ORCH" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
check "the orchestrator answers" \
  wait_until 30 bash -c "dig @127.0.0.1 -p $PORT +short +time=1 +tries=1 $ZONE SOA | grep -q '^[^;]'"
stop_if_failed "$WORK/orch.log"

# The zone file: every RRset the orchestrator serves, as it serves it (TTLs included).
{
  echo "\$ORIGIN $ZONE"
  for q in "$ZONE SOA" "$ZONE NS" "ns1.$ZONE A" "ns1.$ZONE AAAA" "static.$ZONE A" \
           "static.$ZONE AAAA" "api.$ZONE A" "api.$ZONE AAAA"; do
    dig @127.0.0.1 -p "$PORT" +norec +noall +answer $q
  done
} >"$WORK/edge.example.zone"
cat "$WORK/edge.example.zone"
check "the zone has the SOA, the NS and the services" \
  eval 'grep -q "SOA" "$WORK/edge.example.zone" && grep -q "^static\.$ZONE.*A" "$WORK/edge.example.zone"'

mkdir -p "$WORK/knot/run" "$WORK/knot/db" "$WORK/knot/zones"
cp "$WORK/edge.example.zone" "$WORK/knot/zones/"
# Same EDNS buffer cap as prewarm (1232). No cookie module: Knot's answers BADCOOKIE to
# every query without a valid server cookie, a policy prewarm applies only under rate
# limiting; cookies are compared with the option removed (docs/design.md).
cat >"$WORK/knot/knot.conf" <<EOF
server:
    rundir: "$WORK/knot/run"
    listen: 127.0.0.1@$KNOT_PORT
    udp-max-payload: 1232
log:
  - target: stderr
    any: warning
database:
    storage: "$WORK/knot/db"
template:
  - id: default
    storage: "$WORK/knot/zones"
    file: "%s.zone"
    journal-content: none
    zonefile-sync: -1
zone:
  - domain: $ZONE
EOF
knotd -c "$WORK/knot/knot.conf" >"$WORK/knot.log" 2>&1 &
KNOT=$!
check "knotd serves the same zone" \
  wait_until 30 bash -c "dig @127.0.0.1 -p $KNOT_PORT +short +time=1 +tries=1 $ZONE SOA | grep -q '^[^;]'"
stop_if_failed "$WORK/knot.log"

"$DIFF" --a "$PORT" --b "$KNOT_PORT" --queries 10000 --seed 1 >"$WORK/diff.out" 2>&1
rc=$?
tail -n 60 "$WORK/diff.out"
check "10,000 queries: every rcode, flag, section and OPT matches Knot's (but the intended)" \
  test "$rc" -eq 0
finish
