#!/usr/bin/env bash
# Random faults against a running cluster (tests/e2e/cluster_lib.sh: 3 etcd members, 2
# orchestrator replicas, 3 agents, mutual TLS) while DNS queries and curls flow, then the
# history checker over every replica's log: no answer names an instance after its agent
# reported it ended, no address is held by two live instances (goal: 0 violations).
#
# A fault is one of: kill -9 and restart a replica, an agent or an etcd member; freeze one
# (SIGSTOP) and thaw it (SIGCONT) a moment later, which is what a network partition of that
# process looks like to everyone else; drain and undrain a node; a burst of cold queries.
# At most one etcd member is down or frozen at a time (a quorum stays), and at least one
# replica runs.
#
# Usage: bench/cluster/chaos.sh [--faults N] [--seed S] [--prewarm PATH] [--keep]
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
FAULTS=1000
SEED=1
KEEP=0
PREWARM=${PREWARM_BIN:-$ROOT/build/release/bin/prewarm}
while (($#)); do
  case "$1" in
    --faults) FAULTS=$2; shift 2 ;;
    --seed) SEED=$2; shift 2 ;;
    --prewarm) PREWARM=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    *) echo "chaos.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
source "$ROOT/tests/e2e/lib.sh"
WORK=$(mktemp -d /tmp/prewarm-chaos.XXXXXX)
source "$ROOT/tests/e2e/cluster_lib.sh"
cleanup() {
  [[ -n "${LOAD_PID:-}" ]] && kill "$LOAD_PID" 2>/dev/null
  stop_cluster
  ((KEEP)) || rm -rf "$WORK"
}
trap cleanup EXIT
RANDOM=$SEED

start_cluster || { echo "chaos: the cluster did not start"; exit 1; }
wait_until 30 bash -c "$(declare -f health nodes_on); nodes_on 1 3 && nodes_on 2 3" ||
  { echo "chaos: agents did not register"; exit 1; }

# Load: queries to both replicas from every region's clients, a curl through each answer.
load() {
  local subnets=(192.0.2.0 198.51.100.0 203.0.113.0) n=0 r s a
  while :; do
    r=$((n % 2 + 1))
    s=${subnets[$((n % 3))]}
    a=$(kdig @127.0.0.$r -p 5360 +short +time=1 +retry=0 static.edge.example A +subnet=$s/24 2>/dev/null | head -1)
    [[ -n "$a" ]] && curl -s --max-time 1 -o /dev/null "http://$a:8088/" 2>/dev/null
    n=$((n + 1))
    sleep 0.02
  done
}
load &
LOAD_PID=$!

# One fault, described in WHAT; never more than one etcd member out at a time (faults are
# sequential, and each restores what it broke before the next).
fault() {
  local kind=$((RANDOM % 10)) r a e
  case $kind in
    0|1)  # kill -9 a replica, restart it
      r=$((RANDOM % 2 + 1))
      kill -KILL "${ORCH_PID[$r]}" 2>/dev/null; wait "${ORCH_PID[$r]}" 2>/dev/null
      sleep 0.$((RANDOM % 9 + 1))
      start_orchestrator "$r"; WHAT="kill replica $r" ;;
    2)  # freeze a replica for up to 4 s (a partition, as its peers see it)
      r=$((RANDOM % 2 + 1))
      kill -STOP "${ORCH_PID[$r]}"; sleep "$((RANDOM % 4)).$((RANDOM % 9))"; kill -CONT "${ORCH_PID[$r]}"
      WHAT="freeze replica $r" ;;
    3)  # kill -9 an agent, restart it
      a=${AGENTS[$((RANDOM % 3))]}
      kill -KILL "${AGENT_PID[$a]}" 2>/dev/null; wait "${AGENT_PID[$a]}" 2>/dev/null
      sleep 0.$((RANDOM % 9 + 1))
      start_agent "$a"; WHAT="kill agent $a" ;;
    4)  # freeze an agent for up to 5 s
      a=${AGENTS[$((RANDOM % 3))]}
      kill -STOP "${AGENT_PID[$a]}"; sleep "$((RANDOM % 5)).$((RANDOM % 9))"; kill -CONT "${AGENT_PID[$a]}"
      WHAT="freeze agent $a" ;;
    5)  # kill -9 an etcd member, restart it
      e=$((RANDOM % 3))
      kill -KILL "${ETCD_PID[$e]}" 2>/dev/null; wait "${ETCD_PID[$e]}" 2>/dev/null
      sleep "$((RANDOM % 3)).$((RANDOM % 9))"
      start_etcd "$e" existing; WHAT="kill etcd $e" ;;
    6)  # freeze an etcd member for up to 3 s
      e=$((RANDOM % 3))
      kill -STOP "${ETCD_PID[$e]}"; sleep "$((RANDOM % 3)).$((RANDOM % 9))"; kill -CONT "${ETCD_PID[$e]}"
      WHAT="freeze etcd $e" ;;
    7)  # drain and undrain a node
      a=${AGENTS[$((RANDOM % 3))]}
      ctl $((RANDOM % 2 + 1)) drain "$a" >/dev/null 2>&1; sleep 1
      ctl $((RANDOM % 2 + 1)) undrain "$a" >/dev/null 2>&1; WHAT="drain $a" ;;
    *)  # quiet: let it settle
      sleep 1; WHAT="settle" ;;
  esac
}

START=$SECONDS
for i in $(seq "$FAULTS"); do
  fault  # not in $(...): it must update the PIDs of what it restarts
  printf '%4d/%d %5ds %s\n' "$i" "$FAULTS" $((SECONDS - START)) "$WHAT"
  sleep 0.$((RANDOM % 5 + 1))
done
kill "$LOAD_PID" 2>/dev/null; LOAD_PID=
sleep 3
echo "chaos: $FAULTS faults in $((SECONDS - START)) s (seed $SEED)"
"$PREWARM" cluster check-history --allowance-ms 1000 "$WORK"/history-*.jsonl
