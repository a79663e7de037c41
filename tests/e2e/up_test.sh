#!/usr/bin/env bash
# End to end: the real `prewarm up` (embedded default: orchestrator + 3 runc agents +
# origin) on loopback, checked with kdig, dig and curl as a user would.
# Usage: up_test.sh PATH/TO/prewarm
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
PREWARM=${1:?usage: up_test.sh PATH/TO/prewarm}
require_root_and runc kdig dig curl

DNS=(@127.0.0.1 -p 5353)
LOG=$(mktemp /tmp/prewarm-e2e-up.XXXXXX.log)
start_up "$LOG"
metric() { curl -s http://127.0.0.1:9400/metrics | awk -v m="$1" '$1 == m {print $2}'; }

check "prewarm up comes up with three agents connected" wait_until 60 three_nodes
stop_if_failed "$LOG"

# --- The cold path and socket activation: the very first query for Virginia reserves an
# instance and answers at once; a GET made immediately, with no retry, must succeed.
IAD=$(a_record +subnet=198.51.100.0/24)
check "cold query from Virginia answers a Virginia instance address ($IAD)" \
  bash -c "[[ '$IAD' == 127.77.2.* ]]"
BODY=$(curl -s --max-time 20 --retry 0 "http://$IAD/hello.txt")
check "GET right after the cold answer succeeds without retry (socket activation)" \
  bash -c "[[ '$BODY' == 'hello from the origin, preloaded at the edge' ]]"
check "metrics count the cold-path answer" bash -c "(( \$(curl -s http://127.0.0.1:9400/metrics | awk '\$1 == \"prewarm_cold_path_answers_total\" {print \$2}') >= 1 ))"

# --- Nearest node by ECS and by source address.
SIN=$(a_record +subnet=203.0.113.0/24)
check "ECS from Singapore is answered by the Singapore node ($SIN)" bash -c "[[ '$SIN' == 127.77.3.* ]]"
FRA=$(a_record)
check "source 127.0.0.1 (Frankfurt) is answered by the Frankfurt node ($FRA)" bash -c "[[ '$FRA' == 127.77.1.* ]]"
check "the Frankfurt instance serves preloaded index.html" \
  bash -c "curl -sf --max-time 20 http://$FRA/ | grep -q 'prewarmed edge instance'"
ready_ttl() { kdig "${DNS[@]}" +subnet=203.0.113.0/24 static.edge.example A | grep -E '^static' | awk '{print $2}' | grep -qx 30; }
check "a ready instance is answered with the stable TTL (30 s)" wait_until 20 ready_ttl
check "the answer echoes ECS with a /24 scope" \
  bash -c "kdig ${DNS[*]} +subnet=203.0.113.0/24 static.edge.example A | grep -q 'CLIENT-SUBNET: 203.0.113.0/24/24'"

# --- DNS protocol behaviour with real clients.
check "SOA at the apex" bash -c "dig ${DNS[*]} +short edge.example SOA | grep -q '^ns1.edge.example. hostmaster.edge.example.'"
check "NS at the apex" bash -c "dig ${DNS[*]} +short edge.example NS | grep -qx 'ns1.edge.example.'"
check "unknown name in the zone: NXDOMAIN with SOA" \
  bash -c "dig ${DNS[*]} nope.edge.example A | grep -q 'status: NXDOMAIN' && dig ${DNS[*]} nope.edge.example A | grep -A1 'AUTHORITY SECTION' | grep -q SOA"
check "name outside the zone: REFUSED" bash -c "dig ${DNS[*]} www.example.com A | grep -q 'status: REFUSED'"
check "dig +noedns gets an answer without OPT" \
  bash -c "out=\$(dig ${DNS[*]} +noedns static.edge.example A); grep -q 'status: NOERROR' <<<\"\$out\" && ! grep -q 'OPT PSEUDOSECTION' <<<\"\$out\""
check "dig +edns=1 gets BADVERS" bash -c "dig ${DNS[*]} +edns=1 +noednsneg static.edge.example A | grep -q 'status: BADVERS'"
check "query over TCP" bash -c "dig ${DNS[*]} +tcp +short static.edge.example A | grep -q '^127\.77\.'"
check "AAAA for a service is NODATA, not an error" \
  bash -c "dig ${DNS[*]} static.edge.example AAAA | grep -q 'status: NOERROR'"
check "NOTIMP for a non-QUERY opcode" bash -c "dig ${DNS[*]} +opcode=2 static.edge.example A 2>/dev/null | grep -q 'status: NOTIMP'"

# --- Killing an instance's process takes it out of DNS within a few seconds.
SIN_ID=$(runc --root /run/prewarm/sin-1/runc list -q | head -1)
SIN_PID=$(runc --root /run/prewarm/sin-1/runc state "$SIN_ID" | awk -F': ' '/"pid"/ {gsub(/,/, "", $2); print $2}')
check "found the Singapore container ($SIN_ID, pid $SIN_PID)" bash -c "[[ -n '$SIN_PID' ]]"
kill -9 "$SIN_PID"
moved() { [[ $(a_record +subnet=203.0.113.0/24) != "$SIN" ]]; }
check "after kill -9 of its workload, $SIN leaves DNS answers within 5 s" wait_until 5 moved
check "the crash is visible in /metrics (a crash after serving, not a failed start)" bash -c "(( \$(curl -s http://127.0.0.1:9400/metrics | awk '\$1 == \"prewarm_instance_crashes_total\" {print \$2}') >= 1 ))"

# --- Metrics exposition.
METRICS=$(curl -s http://127.0.0.1:9400/metrics)
for series in 'prewarm_dns_responses_total{rcode="NOERROR"}' 'prewarm_dns_responses_total{rcode="REFUSED"}' \
  'prewarm_instances{state="ready"}' 'prewarm_nodes' 'prewarm_service_answers_total{kind="cold"}'; do
  check "metric $series is exported" grep -qF "$series" <<<"$METRICS"
done

# --- Ctrl-C stops everything and leaves nothing behind.
kill -INT "$UP_PID"
wait "$UP_PID"
RC=$?
trap - EXIT
check "prewarm up exits 0 on Ctrl-C" bash -c "[[ $RC == 0 ]]"
check "prewarm up says it stopped cleanly" grep -q "stopped cleanly" "$LOG"
check "no runc containers are left" bash -c "for n in fra-1 iad-1 sin-1; do [[ -z \$(runc --root /run/prewarm/\$n/runc list -q 2>/dev/null) ]] || exit 1; done"
check "no mounts are left" bash -c "! grep -qE '/run/prewarm/(fra-1|iad-1|sin-1)/' /proc/self/mountinfo"
check "nothing listens on the DNS port any more" bash -c "! ss -lun | grep -q '127.0.0.1:5353 '"

if ((FAILED > 0)); then
  echo "---- prewarm up log ----"
  cat "$LOG"
fi
rm -f "$LOG"
finish
