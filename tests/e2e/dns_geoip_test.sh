#!/usr/bin/env bash
# End to end: client location from a MaxMind database (dns.geoip) and IPv6 on the wire,
# the real `prewarm orchestrator` answering on [::1] (no agents: answers name the origin,
# 127.0.0.1 only). The database is written by src/geo/testdata/write_mmdb.pl; nothing is
# downloaded. Loopback only (::1 and 127.0.0.0/8).
#  1. Over IPv6 transport: A is the origin; AAAA is NODATA (NOERROR, no answer, the SOA in
#     authority), since nothing has an IPv6 address.
#  2. The ECS scope is the database network's prefix length, for an IPv4 client subnet and
#     an IPv6 one (family 2); a `networks:` override wins with its own prefix.
#  3. The database file replaced: reloaded within reload_check_s (the scope changes); a
#     corrupt replacement keeps the running database and is counted as a failed reload;
#     SIGHUP reloads it too.
#     Its metrics pass promtool.
#  4. A corrupt database at start: the orchestrator refuses to start and names the file.
# Usage: dns_geoip_test.sh PATH/TO/prewarm
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
PREWARM=${1:?usage: dns_geoip_test.sh PATH/TO/prewarm}
WRITE_MMDB="$HERE/../../src/geo/testdata/write_mmdb.pl"
for tool in kdig curl perl; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed"; exit 77; }
done
perl -MMaxMind::DB::Writer::Tree -e 1 2>/dev/null ||
  { echo "SKIP: libmaxmind-db-writer-perl not installed"; exit 77; }
ip -6 addr show dev lo 2>/dev/null | grep -q "::1/128" || { echo "SKIP: no ::1"; exit 77; }

WORK=$(mktemp -d /tmp/prewarm-e2e-dns-geoip.XXXXXX)
PORT=5359
# write_db FILE LINES...: a database with one network per argument.
write_db() {
  local out=$1
  shift
  printf '%s\n' "$@" >"$WORK/networks.txt"
  perl "$WRITE_MMDB" "$WORK/networks.txt" "$out.new" && mv "$out.new" "$out"
}
write_db "$WORK/geo.mmdb" "100.64.0.0/10 SG - -" "2001:db8:5::/48 - 38.9 -77.0"
cat >"$WORK/orch.yaml" <<YAML
dns:
  listen: "[::1]:$PORT"
  rrl: {responses_per_s: 0}
  geoip:
    database: $WORK/geo.mmdb
    countries: {SG: singapore}
    reload_check_s: 0.2
grpc: {listen: 127.0.0.1:7409}
http: {listen: 127.0.0.1:9409}
origin: {addresses: [127.0.0.1], check: false}
services: [{name: static, template: static}]
regions:
  - {name: frankfurt, latitude: 50.11, longitude: 8.68}
  - {name: virginia, latitude: 38.95, longitude: -77.45}
  - {name: singapore, latitude: 1.35, longitude: 103.82}
networks:
  - {cidr: 100.64.9.0/24, region: virginia}
default_region: frankfurt
YAML
"$PREWARM" orchestrator --config "$WORK/orch.yaml" >"$WORK/orch.log" 2>&1 &
ORCH=$!
cleanup() {
  kill -TERM "$ORCH" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
q() { kdig @::1 -p "$PORT" +timeout=2 +retry=0 static.edge.example "$@"; }
metric() { curl -s http://127.0.0.1:9409/metrics | awk -v m="$1" '$1 == m {print $2}'; }
# scope SUBNET: the scope prefix the answer echoes for that client subnet.
scope() { q A +subnet="$1" | sed -n "s|.*CLIENT-SUBNET: ${1}/||p" | head -1; }
up() { q A +short | grep -qx 127.0.0.1; }
check "the orchestrator answers A over IPv6 transport with the origin" wait_until 30 up
stop_if_failed "$WORK/orch.log"

# 1. AAAA: nothing has an IPv6 address.
AAAA=$(q AAAA)
check "AAAA is NOERROR" grep -q "status: NOERROR" <<<"$AAAA"
check "AAAA has no answer (NODATA)" grep -q "ANSWER: 0" <<<"$AAAA"
check "AAAA has the SOA in authority" grep -Eq "^edge\.example\..*SOA" <<<"$AAAA"

# 2. Scopes.
S=$(scope 100.64.1.0/24)
check "an IPv4 subnet in a /10 of the database gets scope 10 (got '$S')" test "$S" = 10
S=$(scope 2001:db8:5::/56)
check "an IPv6 subnet (family 2) in a /48 of the database gets scope 48 (got '$S')" test "$S" = 48
# The same prefixes as libmaxminddb's own mmdblookup reports (IPv4 counted in the IPv6
# tree, so 96 more), when it is installed.
if command -v mmdblookup >/dev/null; then
  prefix_of() { mmdblookup -v -f "$WORK/geo.mmdb" -i "$1" | sed -n 's/.*Record prefix length: //p'; }
  P4=$(prefix_of 100.64.1.0) P6=$(prefix_of 2001:db8:5::)
  check "mmdblookup agrees: 100.64.1.0 is in a /$((P4 - 96)) (IPv4 in the IPv6 tree)" \
    test "$((P4 - 96))" = "$(scope 100.64.1.0/24)"
  check "mmdblookup agrees: 2001:db8:5:: is in a /$P6" test "$P6" = "$(scope 2001:db8:5::/56)"
fi
S=$(scope 100.64.9.0/24)
check "the networks: override wins with its /24 (got '$S')" test "$S" = 24

# 3. Reloads.
write_db "$WORK/geo.mmdb" "100.64.0.0/12 SG - -"
scope_is() { test "$(scope "$1")" = "$2"; }
check "a replaced database is picked up (scope 12)" wait_until 10 scope_is 100.64.1.0/24 12
check "the reload is counted" test "$(metric 'prewarm_geoip_reloads_total{result="ok"}')" -ge 1
if command -v promtool >/dev/null; then
  curl -s http://127.0.0.1:9409/metrics >"$WORK/metrics.txt"
  check "promtool check metrics accepts the scrape with the geoip families" \
    bash -c "grep -q prewarm_geoip_lookup_errors_total '$WORK/metrics.txt' &&
             promtool check metrics <'$WORK/metrics.txt'"
fi
echo "not a database" >"$WORK/bad.mmdb"
mv "$WORK/bad.mmdb" "$WORK/geo.mmdb"
failed() { test "$(metric 'prewarm_geoip_reloads_total{result="failed"}')" -ge 1; }
check "a corrupt replacement is counted as a failed reload" wait_until 10 failed
check "...and the running database stays (scope 12)" scope_is 100.64.1.0/24 12
check "...and the log says so" grep -q "was not reloaded" "$WORK/orch.log"
write_db "$WORK/geo.mmdb" "100.64.0.0/14 SG - -"
kill -HUP "$ORCH"
check "SIGHUP or the poll reloads a good database (scope 14)" \
  wait_until 10 scope_is 100.64.1.0/24 14
kill -TERM "$ORCH"
wait "$ORCH"
check "the orchestrator stops cleanly" test $? -eq 0

# 4. A corrupt database at start.
echo "junk" >"$WORK/geo.mmdb"
timeout 20 "$PREWARM" orchestrator --config "$WORK/orch.yaml" >"$WORK/bad.log" 2>&1
RC=$?
check "a corrupt database at start is an error (exit $RC)" test "$RC" -ne 0
check "...naming the setting and the file" \
  grep -q "dns.geoip.database: geo database $WORK/geo.mmdb" "$WORK/bad.log"
finish
