#!/usr/bin/env bash
# End to end, `prewarm ctl` against either replica of a cluster (cluster_lib.sh: 3 etcd
# members, 2 replicas, 3 fake-runtime agents, mutual TLS). Each agent holds its stream on
# one replica; an operator may ask any replica:
#  - `ctl logs` of an instance whose agent is connected to the other replica is forwarded
#    to that replica, so every instance's output comes back from both replicas, the
#    follower included;
#  - nodes, instances, templates and forecasts list the same from both;
#  - drain and undrain through the follower take effect on the leader's reconciler.
# Usage: cluster_ops_test.sh PATH/TO/prewarm
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
PREWARM=${1:?usage: cluster_ops_test.sh PATH/TO/prewarm}
for tool in etcd etcdctl kdig curl busybox; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed (tools/install-deps)"; exit 77; }
done
WORK=$(mktemp -d /tmp/prewarm-e2e-cluster-ops.XXXXXX)
source "$HERE/cluster_lib.sh"
trap 'finish_cluster cluster-ops' EXIT

start_cluster || { tail -20 "$WORK"/etcd-*/etcd.log; finish; exit 1; }
check "both replicas see all three agents" wait_until 30 bash -c "$(declare -f health nodes_on); nodes_on 1 3 && nodes_on 2 3"
check "one replica leads" wait_until 10 leader
stop_if_failed "$WORK/orch-1.log"
L=$(leader)
F=$((3 - L))
echo "leader: replica $L, follower: replica $F"

# An instance per region, each serving one request (the fake runtime logs it).
for subnet in 192.0.2.0 198.51.100.0 203.0.113.0; do dig_a "$F" +subnet=$subnet/24 >/dev/null; done
check "three instances become ready" wait_until 20 bash -c "$(declare -f ctl ready_instances); PREWARM='$PREWARM' WORK='$WORK'; [[ \$(ready_instances $F) == 3 ]]"
for subnet in 192.0.2.0 198.51.100.0 203.0.113.0; do
  curl -sf --max-time 5 -o /dev/null "http://$(dig_a "$F" +subnet=$subnet/24):8088/index.html"
done

# --- logs: every instance from both replicas; some agents hold their stream on the other.
ctl "$L" instances -o json | python3 -c '
import json, sys
for i in json.load(sys.stdin)["instances"]: print(i["instance_id"], i["node_id"])' >"$WORK/instances.txt"
# Each instance through both replicas: one of the two holds no stream of its agent and
# forwards the request to the other (ctl nodes names the replica holding each agent).
ctl "$L" nodes -o json | python3 -c '
import json, sys
for n in json.load(sys.stdin)["nodes"]: print(n["node_id"], n["replica_id"])' >"$WORK/holders.txt"
check "ctl nodes -o json names the replica holding each of the three agents" \
  bash -c "[[ \$(grep -cE '^(fra|iad|sin)-1 orchestrator-[12]\$' '$WORK/holders.txt') == 3 ]]"
check "ctl with a certificate writes nothing to stderr when it worked" \
  bash -c "$(declare -f ctl); PREWARM='$PREWARM' WORK='$WORK'; [[ -z \$(ctl $F nodes 2>&1 >/dev/null) ]]"
check "ctl nodes' table shows it too" \
  bash -c "$(declare -f ctl); PREWARM='$PREWARM' WORK='$WORK'; ctl $F nodes | grep -qE '^fra-1 .* orchestrator-[12]\$'"
while read -r id node; do
  H=$(awk -v n="$node" '$1 == n {print $2}' "$WORK/holders.txt")
  for r in "$L" "$F"; do
    check "ctl logs $id (agent $node on $H) through replica $r prints its request" \
      bash -c "$(declare -f ctl); PREWARM='$PREWARM' WORK='$WORK'; ctl $r logs '$id' | grep -q 'GET /index.html'"
  done
done <"$WORK/instances.txt"
check "ctl logs through the follower, of an unknown instance, is NOT_FOUND (exit 1)" \
  bash -c "$(declare -f ctl); PREWARM='$PREWARM' WORK='$WORK'; out=\$(ctl $F logs no-such-1 2>&1); [[ \$? == 1 ]] && grep -q 'instance no-such-1 is unknown' <<<\"\$out\""

# --- listings: the same from the follower as from the leader.
for what in nodes instances templates forecasts; do
  check "ctl $what through the follower lists what the leader lists" \
    bash -c "$(declare -f ctl); PREWARM='$PREWARM' WORK='$WORK'; diff <(ctl $L $what | awk '{print \$1}') <(ctl $F $what | awk '{print \$1}')"
done

# --- drain and undrain through the follower: the leader's reconciler acts on them.
check "ctl drain iad-1 through the follower" \
  bash -c "$(declare -f ctl); PREWARM='$PREWARM' WORK='$WORK'; ctl $F drain iad-1 | grep -q 'node iad-1: draining 1 instance'"
check "the leader lists iad-1 as draining" \
  wait_until 10 bash -c "$(declare -f ctl); PREWARM='$PREWARM' WORK='$WORK'; ctl $L nodes | grep -qE '^iad-1 .* yes +yes +orchestrator-[12]$'"
check "the leader's answers for Virginia leave iad-1's instance" \
  wait_until 10 bash -c "$(declare -f dig_a); [[ \$(dig_a $L +subnet=198.51.100.0/24) != 127.78.2.* ]]"
check "ctl undrain iad-1 through the follower" \
  bash -c "$(declare -f ctl); PREWARM='$PREWARM' WORK='$WORK'; ctl $F undrain iad-1 | grep -q 'undrained'"
check "the leader lists iad-1 as not draining" \
  wait_until 10 bash -c "$(declare -f ctl); PREWARM='$PREWARM' WORK='$WORK'; ctl $L nodes | grep -qE '^iad-1 .* yes +no +orchestrator-[12]$'"
finish
