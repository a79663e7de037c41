#!/usr/bin/env bash
# End to end: `prewarm up --cluster` (examples/up-cluster.yaml, embedded): 3 etcd members,
# 2 orchestrator replicas, the forecaster and 3 runc agents, mutual TLS, on loopback. Both
# replicas serve the zone, one leads, a cold query through the second serves content, and
# Ctrl-C leaves no process, container, etcd data or certificate directory behind.
# Usage: up_cluster_test.sh PATH/TO/prewarm
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
PREWARM=${1:?usage: up_cluster_test.sh PATH/TO/prewarm}
require_root_and runc kdig curl etcd
LOG=$(mktemp /tmp/prewarm-e2e-up-cluster.XXXXXX.log)
start_up "$LOG" --cluster
trap 'stop_up; rm -f "$LOG"' EXIT
health() { curl -s --max-time 2 "http://127.0.0.$1:9400/healthz"; }
both_see_three() { health 1 | grep -q nodes=3 && health 2 | grep -q nodes=3; }
check "both replicas come up and see the three agents" wait_until 90 both_see_three
stop_if_failed "$LOG"
check "exactly one of them leads" \
  bash -c "[[ \$( (curl -s http://127.0.0.1:9400/healthz; curl -s http://127.0.0.2:9400/healthz) | grep -c role=leader) == 1 ]]"
check "the store is etcd over TLS" bash -c "curl -s http://127.0.0.1:9400/healthz | grep -q 'store=etcd https://'"
SIN=$(kdig @127.0.0.2 -p 5353 +short static.edge.example A +subnet=203.0.113.0/24 | head -1)
check "the second replica answers a cold query from Singapore with a Singapore instance ($SIN)" \
  bash -c "[[ '$SIN' == 127.77.3.* ]]"
check "and the instance serves the preloaded content" \
  bash -c "curl -s --max-time 20 http://$SIN/hello.txt | grep -q 'preloaded at the edge'"
check "the first replica answers for the same instance" \
  wait_until 10 bash -c "[[ \$(kdig @127.0.0.1 -p 5353 +short static.edge.example A +subnet=203.0.113.0/24 | head -1) == '$SIN' ]]"
check "both replicas are in the zone's NS set" \
  bash -c "kdig @127.0.0.1 -p 5353 edge.example NS +short | wc -l | grep -qx 2"
DATA=$(grep -o '/dev/shm/prewarm-etcd-[A-Za-z0-9-]*' "$LOG" | head -1)
CERTS=$(grep -o '/tmp/prewarm-up-certs\.[A-Za-z0-9]*' "$LOG" | head -1)
check "it says where etcd's data and the certificates are ($DATA, $CERTS)" test -n "$DATA" -a -n "$CERTS"
stop_up
check "Ctrl-C: prewarm up stopped cleanly" grep -q 'stopped cleanly' "$LOG"
check "no etcd member is left" bash -c "! pgrep -x etcd >/dev/null"
check "no container is left" bash -c "[[ \$(runc list -q 2>/dev/null | wc -l) == 0 ]]"
check "etcd's data and the certificates are gone" bash -c "[[ ! -e '$DATA' && ! -e '$CERTS' ]]"
finish
