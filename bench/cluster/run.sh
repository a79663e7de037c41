#!/usr/bin/env bash
# Every cluster benchmark in one run (README.md has what each measures and the figures):
#   failover.sh     leader failover over 20 kill -9s: p50/p99 until the new leader acts
#   dns_qps.sh      DNS queries/s of a replica on the etcd store vs the memory store
#   cluster_bench   cold-path claim latency and control-plane throughput, etcd vs memory
#   chaos.sh        (with --chaos N) N random faults, then the history checker
# Usage: bench/cluster/run.sh [--chaos N] [--prewarm PATH]
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CHAOS=0
PREWARM=${PREWARM_BIN:-$ROOT/build/release/bin/prewarm}
BENCH=${CLUSTER_BENCH:-$ROOT/build/release/bench/cluster/cluster_bench}
while (($#)); do
  case "$1" in
    --chaos) CHAOS=$2; shift 2 ;;
    --prewarm) PREWARM=$2; shift 2 ;;
    *) echo "run.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[[ $(id -u) -eq 0 ]] || { echo "run.sh: run as root (the fake agents bind 127.78.x.y)" >&2; exit 2; }
echo "== leader failover"
"$HERE/failover.sh" --prewarm "$PREWARM"
echo "== DNS queries/s, etcd store vs memory store"
"$HERE/dns_qps.sh" --prewarm "$PREWARM"
echo "== cold-path claim latency, control-plane throughput"
"$BENCH" all
if ((CHAOS > 0)); then
  echo "== $CHAOS random faults, then the history checker"
  "$HERE/chaos.sh" --faults "$CHAOS" --prewarm "$PREWARM"
fi
