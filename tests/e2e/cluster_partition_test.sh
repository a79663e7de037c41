#!/usr/bin/env bash
# End to end, a replica cut off from etcd (cluster_lib.sh's cluster: 3 etcd members, 2
# replicas, 3 agents, mutual TLS). Replica 2 reaches etcd by the members' second addresses
# (127.0.1.31-33) and nobody else does, so one nftables rule that drops that path cuts
# replica 2 alone off from the store while it still answers DNS. The partitioned replica
# must stop making cold reservations, step down as leader and say `degraded`; the other
# must lead, take the agents and go on placing instances; when the rule goes, replica 2
# recovers by itself; and the history checker finds nothing.
#
# The test runs in a network namespace it creates (unshare --net), so the rule and every
# address exist only there.
# Usage: cluster_partition_test.sh PATH/TO/prewarm
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
PREWARM=${1:?usage: cluster_partition_test.sh PATH/TO/prewarm}
for tool in etcd etcdctl kdig curl busybox nft unshare ip; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed (tools/install-deps)"; exit 77; }
done
if [[ -z "${PREWARM_IN_NETNS:-}" ]]; then
  [[ $(id -u) -eq 0 ]] || { echo "SKIP: needs root for a network namespace"; exit 77; }
  PREWARM_IN_NETNS=1 exec unshare --net bash -c 'ip link set lo up && exec bash "$0" "$1"' "$0" "$PREWARM"
fi
source "$HERE/lib.sh"
WORK=$(mktemp -d /tmp/prewarm-e2e-partition.XXXXXX)
ALT_ETCD_REPLICA=2
source "$HERE/cluster_lib.sh"
cleanup() {
  nft delete table inet prewarm_partition 2>/dev/null
  finish_cluster partition
}
trap cleanup EXIT
leads() { health "$1" | grep -q role=leader; }

start_cluster || { tail -20 "$WORK"/etcd-*/etcd.log; finish; exit 1; }
check "both replicas see all three agents" wait_until 30 bash -c "$(declare -f health nodes_on); nodes_on 1 3 && nodes_on 2 3"
check "one replica leads" wait_until 10 leader
stop_if_failed "$WORK/orch-2.log"
# Replica 2 is to be cut off while it leads: if replica 1 leads, kill it and bring it back.
if leads 1; then
  kill -KILL "${ORCH_PID[1]}"
  wait "${ORCH_PID[1]}" 2>/dev/null
  wait_until 10 bash -c "$(declare -f health leads); leads 2"
  start_orchestrator 1
  wait_until 20 bash -c "$(declare -f health nodes_on); nodes_on 1 3"
fi
check "replica 2 leads before the partition" leads 2
dig_a 2 +subnet=192.0.2.0/24 >/dev/null  # a cold start in Frankfurt, through replica 2
check "Frankfurt's instance becomes ready" \
  wait_until 20 bash -c "[[ \$(kdig @127.0.0.2 -p 5360 +short static.edge.example A +subnet=192.0.2.0/24) == 127.78.1.* ]]"
FRA=$(dig_a 2 +subnet=192.0.2.0/24)
stop_if_failed "$WORK/orch-2.log"

# --- the partition: drop every packet to the members' second addresses.
on_1() {  # every agent's stream is with replica 1 now: its last move connected there
  local a
  for a in "${AGENTS[@]}"; do
    tac "$WORK/agent-$a.log" | grep -m1 -E 'connected to orchestrator|left orchestrator' |
      grep -q 'connected to orchestrator 127.0.0.1:7410' || return 1
  done
}
nft add table inet prewarm_partition
nft add chain inet prewarm_partition out '{ type filter hook output priority 0; policy accept; }'
nft add rule inet prewarm_partition out ip daddr 127.0.1.0/24 drop
check "replica 2 says degraded, and why" \
  wait_until 15 bash -c "$(declare -f health); health 2 | grep -q '^degraded.*store'" || health 2
check "and steps down as leader" wait_until 10 bash -c "$(declare -f health); health 2 | grep -q role=follower"
check "replica 1 leads" wait_until 10 bash -c "$(declare -f health leads); leads 1"
check "replica 1 stays healthy" bash -c "$(declare -f health); health 1 | grep -q '^ok'"
# (replica 1 lists the nodes from replica 2's records until replica 2's session lease runs
# out; what counts is where the agents' streams are: replica 2 ends them, they move)
check "every agent moves to replica 1" wait_until 15 on_1
check "and replica 1 sees the three" wait_until 5 bash -c "$(declare -f health nodes_on); nodes_on 1 3"
check "replica 2 still answers from its last snapshot: Frankfurt's ready instance ($FRA)" \
  bash -c "[[ \$(kdig @127.0.0.2 -p 5360 +short +time=1 static.edge.example A +subnet=192.0.2.0/24) == '$FRA' ]]"
# A cold query (Virginia has no instance yet) to the partitioned replica: no reservation of
# one of Virginia's standby addresses (127.78.2.x); a ready instance elsewhere or the origin.
IAD2=$(dig_a 2 +subnet=198.51.100.0/24)
check "replica 2 makes no cold reservation: Virginia gets Frankfurt's ready instance or the origin ('$IAD2')" \
  bash -c "[[ '$IAD2' == '$FRA' || '$IAD2' == 127.78.0.1 ]]"
sleep 1
check "and no Virginia instance was created for it" \
  bash -c "! '$PREWARM' ctl --certs $WORK/certs --orchestrator 127.0.0.1:7410 instances | grep -q ' iad-1 '"
# The other replica goes on: a cold query through it places an instance in Virginia.
IAD1=$(dig_a 1 +subnet=198.51.100.0/24)
check "replica 1 reserves on the cold path ('$IAD1' is Virginia's)" bash -c "[[ '$IAD1' == 127.78.2.* ]]"
check "and Virginia's instance becomes ready" \
  wait_until 20 bash -c "'$PREWARM' ctl --certs $WORK/certs --orchestrator 127.0.0.1:7410 instances | grep ' iad-1 ' | grep -q ' ready '"
check "replica 2 never crashed" kill -0 "${ORCH_PID[2]}"

# --- heal: the rule goes, replica 2 recovers by itself and follows.
nft delete table inet prewarm_partition
check "after the partition heals, replica 2 is healthy again" \
  wait_until 30 bash -c "$(declare -f health); health 2 | grep -q '^ok'"
check "and follows" bash -c "$(declare -f health leads); leads 1 && ! leads 2"
check "replica 2 answers Virginia from the new instance" \
  wait_until 10 bash -c "[[ \$(kdig @127.0.0.2 -p 5360 +short static.edge.example A +subnet=198.51.100.0/24) == 127.78.2.* ]]"
check "history across the partition: no violations" history_clean
finish
