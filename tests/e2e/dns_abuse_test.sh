#!/usr/bin/env bash
# End to end: the orchestrator's DNS under abuse, on loopback, no agents (answers name the
# origin). Clients in tests/e2e/dns_abuse.py, every one bounded in count and time.
#  1. Slow-loris: 520 TCP connections from 127.0.0.0/24 (more than the 512 slots), each
#     dribbling a byte every 0.5 s and reopened when closed, for 8 s. Meanwhile TCP queries
#     from 127.0.1.1 and UDP queries must be answered.
#  1b. 5,000 idle TCP connections from 40 networks (127.1.0-39.x, 125 each, network by
#     network), held 6 s: each network keeps at most its 64 slots, the server at most its
#     512 (a newcomer evicts the connection idle the longest), and meanwhile TCP queries
#     from 127.0.1.1 and UDP queries are all answered.
#  2. Forged-ECS flood: 20,000 UDP queries from 127.0.0.1, each with another client subnet.
#     They are answered, and the demand counted for the forecaster stays within the
#     sender network's share: max_events_per_network_per_s per (region, template) a second.
#  3. Response rate limiting and cookies, a second orchestrator on 127.0.0.42 with the
#     default dns.rrl (100/s per /24, slip 2): 2,000 UDP queries from 127.0.42.1 are mostly
#     dropped, half the rest slipped (TC=1), while 127.0.43.1 is answered; a client that
#     learned a server cookie is answered in full from the flooded network.
# Usage: dns_abuse_test.sh PATH/TO/prewarm
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
PREWARM=${1:?usage: dns_abuse_test.sh PATH/TO/prewarm}
for tool in kdig curl python3; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed"; exit 77; }
done

WORK=$(mktemp -d /tmp/prewarm-e2e-dns-abuse.XXXXXX)
PORT=5358
SHARE=100
cat >"$WORK/orch.yaml" <<YAML
# TCP limits: the defaults (512 slots, 64 per network). RRL off: the flood below tests the
# demand cap behind it, which needs the flood answered; RRL has its own part (3.), run
# against a second orchestrator with the default dns.rrl.
dns: {listen: 127.0.0.1:$PORT, rrl: {responses_per_s: 0}}
grpc: {listen: 127.0.0.1:7408}
http: {listen: 127.0.0.1:9408}
origin: {addresses: [127.0.0.1], check: false}
services: [{name: static, template: static}]
regions:
  - {name: frankfurt, latitude: 50.11, longitude: 8.68}
  - {name: virginia, latitude: 38.95, longitude: -77.45}
  - {name: singapore, latitude: 1.35, longitude: 103.82}
networks:
  - {cidr: 198.51.100.0/24, region: virginia}
  - {cidr: 203.0.113.0/24, region: singapore}
default_region: frankfurt
max_events_per_network_per_s: $SHARE
YAML
"$PREWARM" orchestrator --config "$WORK/orch.yaml" >"$WORK/orch.log" 2>&1 &
ORCH=$!
LORIS=
RRL_ORCH=
cleanup() {
  [[ -n "$LORIS" ]] && kill "$LORIS" 2>/dev/null
  [[ -n "$RRL_ORCH" ]] && kill -TERM "$RRL_ORCH" 2>/dev/null
  kill -TERM "$ORCH" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
metric() { curl -s http://127.0.0.1:9408/metrics | awk -v m="$1" '$1 == m {print $2}'; }
udp_ok() { kdig @127.0.0.1 -p "$PORT" +short +timeout=2 +retry=0 static.edge.example A | grep -q .; }
tcp_ok() {
  kdig @127.0.0.1 -p "$PORT" -b 127.0.1.1 +tcp +short +timeout=2 +retry=0 \
    static.edge.example A | grep -q .
}
check "the orchestrator answers" wait_until 30 udp_ok
stop_if_failed "$WORK/orch.log"

# 1. Slow-loris.
python3 "$HERE/dns_abuse.py" slowloris "$PORT" 520 8 >"$WORK/loris.out" 2>&1 &
LORIS=$!
sleep 2  # every slot is asked for by now
TCP_OK=0 UDP_OK=0
for i in 1 2 3 4 5; do
  tcp_ok && TCP_OK=$((TCP_OK + 1))
  udp_ok && UDP_OK=$((UDP_OK + 1))
  sleep 0.5
done
check "during the slow-loris, TCP queries from another network are answered ($TCP_OK/5)" \
  test "$TCP_OK" -eq 5
check "during the slow-loris, UDP queries are answered ($UDP_OK/5)" test "$UDP_OK" -eq 5
wait "$LORIS"
LORIS=
echo "slow-loris: $(cat "$WORK/loris.out")"
OPEN=$(awk '{print $2}' "$WORK/loris.out")
check "the slow-loris network held at most its 64 slots ($OPEN open at the end)" \
  bash -c "[[ -n '$OPEN' ]] && (( $OPEN <= 64 ))"

# 1b. 5,000 idle connections. Server side, the connections it holds are its open sockets
# (/proc/PID/fd, less those it had before) and the established ones on its port per client
# network (ss), sampled while they are held.
fds() { find "/proc/$ORCH/fd" -mindepth 1 -maxdepth 1 | wc -l; }
BASE_FDS=$(fds)
python3 "$HERE/dns_abuse.py" idle "$PORT" 5000 40 6 >"$WORK/idle.out" 2>"$WORK/idle.err" &
IDLE=$!
LORIS=$IDLE  # stopped by cleanup if the test ends early
for _ in $(seq 100); do grep -q ramped "$WORK/idle.err" && break; sleep 0.2; done
MAX_FDS=0 MAX_NET=0 TCP_OK=0 UDP_OK=0
for i in 1 2 3 4 5; do
  n=$(($(fds) - BASE_FDS))
  ((n > MAX_FDS)) && MAX_FDS=$n
  per_net=$(ss -Htn state established "( sport = :$PORT )" |
    awk '$4 ~ /^127\.1\./ { split($4, a, "."); c[a[3]]++ } END { m = 0; for (k in c) if (c[k] > m) m = c[k]; print m }')
  ((per_net > MAX_NET)) && MAX_NET=$per_net
  tcp_ok && TCP_OK=$((TCP_OK + 1))
  udp_ok && UDP_OK=$((UDP_OK + 1))
  sleep 0.3
done
wait "$IDLE"
LORIS=
echo "idle: $(cat "$WORK/idle.err") $(cat "$WORK/idle.out"); server: at most $MAX_FDS connections, $MAX_NET from one network"
read -r _ I_OPENED _ _ _ I_FAST _ I_LATER _ _ <<<"$(cat "$WORK/idle.out")"
check "the 5,000 idle connections were made (${I_OPENED:-0})" bash -c "(( ${I_OPENED:-0} >= 4900 ))"
check "the server closed all but at most 512 of them while held ($I_FAST + $I_LATER)" \
  bash -c "(( ${I_FAST:-0} + ${I_LATER:-0} >= ${I_OPENED:-0} - 512 ))"
check "the server held at most its 512 connections ($MAX_FDS)" bash -c "(( $MAX_FDS <= 512 ))"
check "no network held more than its 64 ($MAX_NET)" bash -c "(( $MAX_NET <= 64 ))"
check "meanwhile, TCP queries from another network are answered ($TCP_OK/5)" test "$TCP_OK" -eq 5
check "meanwhile, UDP queries are answered ($UDP_OK/5)" test "$UDP_OK" -eq 5

# 2. Forged-ECS flood.
BEFORE=$(metric prewarm_request_events_total)
FLOOD=$(python3 "$HERE/dns_abuse.py" flood "$PORT" 20000)
echo "flood: $FLOOD"
ANSWERED=$(awk '{print $2}' <<<"$FLOOD")
SECS=$(awk '{printf "%d", $4 + 1}' <<<"$FLOOD")
sleep 1.5  # the last second is cut
COUNTED=$(($(metric prewarm_request_events_total) - BEFORE))
CAPPED=$(metric prewarm_request_events_capped_total)
# 3 (region, template) series, one share each per second the flood touched (+1 for the
# partial seconds at both ends).
BOUND=$((3 * SHARE * (SECS + 1)))
check "the flood is answered ($ANSWERED of 20000)" bash -c "(( $ANSWERED >= 19000 ))"
check "the flood counts as at most the sender's share: $COUNTED <= $BOUND" \
  bash -c "(( $COUNTED <= $BOUND ))"
check "the rest is counted as capped ($CAPPED)" bash -c "(( $CAPPED >= 20000 - $BOUND ))"
check "the orchestrator still answers" udp_ok

# 3. Response rate limiting and cookies, with the orchestrator's defaults.
RRL_IP=127.0.0.42
cat >"$WORK/rrl.yaml" <<YAML
dns: {listen: $RRL_IP:5353}   # dns.cookies and dns.rrl: the defaults
grpc: {listen: $RRL_IP:7400}
http: {listen: $RRL_IP:9400}
origin: {addresses: [127.0.0.1], check: false}
services: [{name: static, template: static}]
YAML
"$PREWARM" orchestrator --config "$WORK/rrl.yaml" >"$WORK/rrl.log" 2>&1 &
RRL_ORCH=$!
rrl_metric() { curl -s "http://$RRL_IP:9400/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
other_ok() {
  kdig @$RRL_IP -p 5353 -b 127.0.43.1 +short +timeout=2 +retry=0 static.edge.example A | grep -q .
}
check "the rate-limited orchestrator answers" wait_until 30 other_ok
stop_if_failed "$WORK/rrl.log"
RRL=$(python3 "$HERE/dns_abuse.py" rrl $RRL_IP 5353 127.0.42.1 2000)
echo "rrl flood: $RRL"
read -r _ R_ANS _ R_TC _ R_BAD _ R_SECS <<<"$RRL"
R_MAX=$(awk -v s="$R_SECS" 'BEGIN {printf "%d", 100 + 100 * (s + 1)}')
check "the flood is answered at most at the rate: $R_ANS <= $R_MAX" \
  bash -c "(( $R_ANS >= 100 && $R_ANS <= $R_MAX ))"
check "about every second limited response is slipped as TC=1 ($R_TC)" \
  bash -c "(( $R_TC >= (2000 - $R_ANS) * 4 / 10 && $R_TC <= (2000 - $R_ANS) / 2 + 1 ))"
check "another /24 is answered after the flood" other_ok
DROPPED=$(rrl_metric prewarm_dns_rrl_dropped_total)
SLIPPED=$(rrl_metric prewarm_dns_rrl_slipped_total)
check "/metrics counts the dropped ($DROPPED) and the slipped ($SLIPPED)" \
  bash -c "(( ${DROPPED:-0} >= 500 && ${SLIPPED:-0} >= 500 ))"
# A cookie learned from the flooded network exempts its queries (kdig may be slipped as
# BADCOOKIE at first: that reply carries a server cookie too).
COOKIE=$(kdig @$RRL_IP -p 5353 -b 127.0.42.1 +cookie +timeout=2 +retry=2 static.edge.example A |
  sed -n 's/^;; COOKIE: \([0-9A-Fa-f]\{48\}\).*/\1/p')
check "kdig +cookie learns a 16-byte server cookie ($COOKIE)" test "${#COOKIE}" -eq 48
EXEMPT=$(python3 "$HERE/dns_abuse.py" rrl $RRL_IP 5353 127.0.42.1 500 "$COOKIE")
echo "with the cookie: $EXEMPT"
check "with it, 500 queries from the flooded network are all answered" \
  bash -c "[[ '$EXEMPT' == 'answered 500 '* ]]"
VALID=$(curl -s "http://$RRL_IP:9400/metrics" |
  awk '$1 == "prewarm_dns_cookie_queries_total{server_cookie=\"valid\"}" {print $2}')
check "/metrics counts them as valid cookies ($VALID)" bash -c "(( ${VALID:-0} >= 500 ))"

if ((FAILED > 0)); then
  echo "---- orchestrator ----"; tail -30 "$WORK/orch.log"
  echo "---- rate-limited orchestrator ----"; tail -30 "$WORK/rrl.log"
fi
finish
