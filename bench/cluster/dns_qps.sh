#!/usr/bin/env bash
# DNS queries per second of one orchestrator replica on the etcd store vs the same replica
# on the memory store, measured by dnsperf side by side in one run (rounds of memory and
# etcd in ABBA order; the ratio is of the means). The DNS hot path never waits on the
# store: it reads the routing snapshot its watch keeps current, so the ratio should be ~1.
# Replica, agent and etcd as in tests/e2e/cluster_lib.sh (mutual TLS; the agent runs the
# fake runtime); every query is answered from a ready instance.
# Usage: bench/cluster/dns_qps.sh [--seconds N] [--rounds N] [--prewarm PATH]
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SECS=10
ROUNDS=4
PREWARM=${PREWARM_BIN:-$ROOT/build/release/bin/prewarm}
while (($#)); do
  case "$1" in
    --seconds) SECS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --prewarm) PREWARM=$2; shift 2 ;;
    *) echo "dns_qps.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
command -v dnsperf >/dev/null || { echo "dns_qps.sh: dnsperf is not installed" >&2; exit 2; }
source "$ROOT/tests/e2e/lib.sh"
WORK=$(mktemp -d /tmp/prewarm-cluster-qps.XXXXXX)
source "$ROOT/tests/e2e/cluster_lib.sh"
trap 'stop_cluster; rm -rf "$WORK"' EXIT

mkdir -p "$WORK/origin"
echo ok >"$WORK/origin/index.html"
busybox httpd -f -p 127.0.0.1:8405 -h "$WORK/origin" & ORIGIN_PID=$!
busybox httpd -f -p 127.78.0.1:8088 -h "$WORK/origin" & FALLBACK_PID=$!
cluster_certs
for i in 0 1 2; do start_etcd "$i"; done
wait_until 30 etcd_healthy || { echo "dns_qps: etcd did not start"; exit 1; }
printf 'static.edge.example A\n' >"$WORK/queries.txt"

# run STORE: one replica on STORE (memory | etcd) with one agent; prints queries/s.
run() {
  # RRL off: dnsperf's queries all come from 127.0.0.1, one client network.
  orchestrator_config 1 | sed -e "s/kind: etcd/kind: $1/" \
    -e 's/^dns: {\(.*\)}$/dns: {\1, rrl: {responses_per_s: 0}}/' >"$WORK/orch-1.yaml"
  "$PREWARM" orchestrator --config "$WORK/orch-1.yaml" >>"$WORK/orch-$1.log" 2>&1 &
  ORCH_PID[1]=$!
  agent_config fra-1 | sed 's/^orchestrators: .*/orchestrators: [127.0.0.1:7410]/' >"$WORK/agent.yaml"
  "$PREWARM" agent --config "$WORK/agent.yaml" >>"$WORK/agent-$1.log" 2>&1 &
  AGENT_PID[fra-1]=$!
  wait_until 20 bash -c "$(declare -f health nodes_on); nodes_on 1 1" || { echo "dns_qps: no agent" >&2; return 1; }
  dig_a 1 >/dev/null  # the cold start
  wait_until 20 bash -c "[[ \$(kdig @127.0.0.1 -p 5360 +short static.edge.example A) == 127.78.1.* ]] && curl -sf http://\$(kdig @127.0.0.1 -p 5360 +short static.edge.example A):8088/ >/dev/null" || return 1
  dnsperf -s 127.0.0.1 -p 5360 -d "$WORK/queries.txt" -l "$SECS" -c 8 -T 2 -q 100 2>&1 |
    awk '/Queries per second/ {print $4}'
  kill -TERM "${AGENT_PID[fra-1]}" "${ORCH_PID[1]}"
  wait "${AGENT_PID[fra-1]}" "${ORCH_PID[1]}" 2>/dev/null
  etcdctl_tls del --prefix /prewarm/ >/dev/null
}

declare -A QPS
# ABBA order over ROUNDS rounds, so a drift in the host's speed falls on both stores.
for round in $(seq "$ROUNDS"); do
  order="memory etcd"; ((round % 2 == 0)) && order="etcd memory"
  for store in $order; do
    q=$(run "$store") || { echo "dns_qps: the $store run failed" >&2; exit 1; }
    QPS[$store]="${QPS[$store]:-} $q"
    echo "round $round: $store store: $q queries/s"
  done
done
awk -v m="${QPS[memory]}" -v e="${QPS[etcd]}" 'BEGIN {
  nm = split(m, a, " "); ne = split(e, b, " "); sm = 0; se = 0
  for (i = 1; i <= nm; i++) sm += a[i]; for (i = 1; i <= ne; i++) se += b[i]
  printf "DNS queries/s, one replica: memory store %.0f, etcd store %.0f: etcd/memory %.3fx (goal >= 0.95x)\n", sm / nm, se / ne, (se / ne) / (sm / nm)
}'
