#!/usr/bin/env bash
# End to end, a cluster as operators run it (cluster_lib.sh): 3 etcd members, 2
# orchestrator replicas, 3 agents, every link mutual TLS, each a separate process. Faults:
# kill -9 of the leader replica, of etcd members (one, then two of three), of an agent, of
# every replica at once; TLS refusals; corrupt values in etcd. After each, the replicas'
# history logs are checked: no answer names an instance after it ended, no address is held
# twice (`prewarm cluster check-history`).
# Usage: cluster_test.sh PATH/TO/prewarm
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
PREWARM=${1:?usage: cluster_test.sh PATH/TO/prewarm}
for tool in etcd etcdctl kdig curl busybox; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed (tools/install-deps)"; exit 77; }
done
WORK=$(mktemp -d /tmp/prewarm-e2e-cluster.XXXXXX)
source "$HERE/cluster_lib.sh"
# On a failed check, what each replica sees.
diagnose() {
  local r
  for r in "${REPLICAS[@]}"; do
    echo "--- replica $r: $(health "$r")"
    ctl "$r" nodes 2>&1 | sed 's/^/    /'
    ctl "$r" instances 2>&1 | sed 's/^/    /'
  done
}
trap 'finish_cluster cluster' EXIT

start_cluster || { tail -20 "$WORK"/etcd-*/etcd.log; finish; exit 1; }
check "both replicas see all three agents" wait_until 30 bash -c "$(declare -f health nodes_on); nodes_on 1 3 && nodes_on 2 3"
check "one replica leads" wait_until 10 leader
stop_if_failed "$WORK/orch-1.log"

# Warm instances in every region: cold queries through both replicas.
for subnet in 192.0.2.0 198.51.100.0 203.0.113.0; do dig_a 1 +subnet=$subnet/24 >/dev/null; done
check "three instances become ready (one per region)" \
  wait_until 20 bash -c "[[ \$('$PREWARM' ctl --certs $WORK/certs --orchestrator 127.0.0.1:7410 instances | grep -c ' ready ') == 3 ]]"
ADDR=$(dig_a 2 +subnet=198.51.100.0/24)
check "the other replica answers with the same instance (127.78.2.x)" grep -q '^127\.78\.2\.' <<<"$ADDR"
check "it serves: curl through the answer" bash -c "curl -sf --max-time 5 http://$ADDR:8088/ | grep -q 'cluster test'"
check "the zone's NS set names both replicas, with glue" \
  bash -c "kdig @127.0.0.2 -p 5360 edge.example NS | grep -c 'IN.A.127.0.0.[12]' | grep -q 2"
ctl 1 instances | awk 'NR > 1 {print $1}' | sort >"$WORK/before.txt"

# --- kill -9 the leader: the other leads; DNS keeps answering; nothing created twice.
L=$(leader)
S=$((3 - L))
kill -KILL "${ORCH_PID[$L]}"
FAILED_QUERIES=0
NOT_LOCAL=0
SUBNETS=(192.0.2.0 198.51.100.0 203.0.113.0)
for n in $(seq 60); do  # 6 s of queries to the survivor across the failover, every region
  i=$((n % 3))
  a=$(dig_a "$S" +subnet=${SUBNETS[$i]}/24)
  [[ -n "$a" ]] || FAILED_QUERIES=$((FAILED_QUERIES + 1))
  [[ "$a" == 127.78.$((i + 1)).* ]] || NOT_LOCAL=$((NOT_LOCAL + 1))
  sleep 0.1
done
check "every query to the surviving replica was answered during the failover ($FAILED_QUERIES unanswered)" \
  test "$FAILED_QUERIES" -eq 0
check "and by its own region's instance: agents moved without their instances leaving ($NOT_LOCAL not)" \
  test "$NOT_LOCAL" -eq 0
check "the survivor leads within a few seconds" wait_until 10 bash -c "$(declare -f health); health $S | grep -q role=leader"
check "no instance was recreated or destroyed: the same three" \
  wait_until 10 bash -c "diff <('$PREWARM' ctl --certs $WORK/certs --orchestrator 127.0.0.$S:7410 instances | awk 'NR > 1 {print \$1}' | sort) $WORK/before.txt"
start_orchestrator "$L"
check "the killed replica comes back as a follower" wait_until 20 bash -c "$(declare -f health); health $L | grep -q 'role=follower'"
check "history after the leader's kill: no violations" history_clean

# --- kill -9 one etcd member: no visible effect.
kill -KILL "${ETCD_PID[0]}"
check "with one etcd member down both replicas stay healthy" \
  bash -c "sleep 2; $(declare -f health); health 1 | grep -q '^ok' && health 2 | grep -q '^ok'"
check "and Frankfurt's queries are still answered" \
  bash -c "[[ -n \$(kdig @127.0.0.1 -p 5360 +short static.edge.example A +subnet=192.0.2.0/24) ]]"
# --- kill 2 of 3: DNS from the last snapshot, degraded, and it recovers.
kill -KILL "${ETCD_PID[1]}"
check "with two of three etcd members down the replicas say degraded" \
  wait_until 15 bash -c "$(declare -f health); health 1 | grep -q '^degraded' && health 2 | grep -q '^degraded'"
IAD=$(kdig @127.0.0.2 -p 5360 +short +time=1 static.edge.example A +subnet=198.51.100.0/24)
check "and keep answering DNS with ready instances (Virginia: '$IAD')" \
  bash -c "[[ '$IAD' == 127.78.2.* ]]" || diagnose
start_etcd 0 existing
start_etcd 1 existing
check "when the members return, both replicas recover by themselves" \
  wait_until 30 bash -c "$(declare -f health); health 1 | grep -q '^ok' && health 2 | grep -q '^ok'"
check "and one of them leads" wait_until 10 leader
check "history after the etcd faults: no violations" history_clean

# --- kill -9 an agent: its instances leave every replica's answers within the lease TTL.
SIN=$(dig_a 1 +subnet=203.0.113.0/24)
kill -KILL "${AGENT_PID[sin-1]}"
gone_from_both() {
  [[ $(dig_a 1 +subnet=203.0.113.0/24) != "$SIN" && $(dig_a 2 +subnet=203.0.113.0/24) != "$SIN" ]]
}
check "the dead agent's instance ($SIN) leaves both replicas' answers within its 3 s lease" \
  wait_until 6 gone_from_both
start_agent sin-1
check "the agent comes back and registers" wait_until 15 bash -c "$(declare -f health nodes_on); nodes_on 1 3"
check "history after the agent's kill: no violations" history_clean

# --- restart every replica at once: instances adopted, not recreated.
ctl 1 instances | awk 'NR > 1 && $3 == "ready" {print $1}' | sort >"$WORK/ready.txt"
for r in "${REPLICAS[@]}"; do kill -KILL "${ORCH_PID[$r]}"; done
for r in "${REPLICAS[@]}"; do start_orchestrator "$r"; done
check "after every replica restarted, the agents reconnect" \
  wait_until 30 bash -c "$(declare -f health nodes_on); nodes_on 1 3 && nodes_on 2 3"
check "the same instances are ready again: adopted, not recreated" \
  wait_until 15 bash -c "diff <('$PREWARM' ctl --certs $WORK/certs --orchestrator 127.0.0.1:7410 instances | awk 'NR > 1 && \$3 == \"ready\" {print \$1}' | sort) $WORK/ready.txt"
check "history after restarting every replica: no violations" history_clean

# --- corrupt and foreign values under the prefix: logged with the key and skipped.
etcdctl_tls put /prewarm/v1/instances/junk "this is not a protobuf" >/dev/null
etcdctl_tls put /prewarm/v1/unknown/thing "from a newer version" >/dev/null
check "a corrupt value is logged with its key" wait_until 5 grep -q "skipping /prewarm/v1/instances/junk" "$WORK/orch-1.log"
check "and the replicas go on answering" bash -c "[[ -n \$(kdig @127.0.0.1 -p 5360 +short static.edge.example A) ]]"
check "no replica crashed" bash -c "kill -0 ${ORCH_PID[1]} && kill -0 ${ORCH_PID[2]}"

# --- TLS: a wrong CA, an expired certificate, another node's certificate.
"$PREWARM" certs init "$WORK/other-ca" >/dev/null
"$PREWARM" certs issue --dir "$WORK/certs" --role agent --name old-1 --range 127.78.9.0/24 --expired >/dev/null
try_agent() {  # try_agent ID CERT_STEM [CA_DIR]: an agent for 4 s; its log in $WORK/try-ID.log
  agent_config "$@" >"$WORK/try-$1.yaml"
  timeout 4 "$PREWARM" agent --config "$WORK/try-$1.yaml" >"$WORK/try-$1.log" 2>&1
}
# refused_hello CRT KEY PATTERN: a TLS client hello to replica 1 with that certificate
# (trusting our CA), then whether replica 1's log matches PATTERN.
refused_hello() {
  (sleep 1; echo) | timeout 5 openssl s_client -connect 127.0.0.1:7410 -alpn h2 -cert "$1" -key "$2" \
    -CAfile "$WORK/certs/ca.crt" >/dev/null 2>&1
  grep -q "$3" "$WORK/orch-1.log"
}
cp "$WORK/other-ca/agent-fra-1.crt" "$WORK/certs/stranger.crt"
cp "$WORK/other-ca/agent-fra-1.key" "$WORK/certs/stranger.key"
AGENT_NET[stranger]=1 AGENT_REGION[stranger]=frankfurt AGENT_LAT[stranger]=50.11 AGENT_LON[stranger]=8.68
try_agent stranger stranger "$WORK/other-ca"
check "an agent of another CA refuses the orchestrator's certificate, naming it and why" \
  grep -q "TLS to 127.0.0.[12]:7410 failed: the server's certificate .*not by our CA" "$WORK/try-stranger.log"
check "a client certificate from another CA is refused; the orchestrator names it and why" \
  wait_until 15 refused_hello "$WORK/certs/stranger.crt" "$WORK/certs/stranger.key" \
  "refused a connection: the client's certificate (agent fra-1.*not by our CA"
AGENT_NET[old-1]=1 AGENT_REGION[old-1]=frankfurt AGENT_LAT[old-1]=50.11 AGENT_LON[old-1]=8.68
try_agent old-1 agent-old-1
check "an agent with an expired certificate refuses to start, naming it" \
  grep -q "agent-old-1.crt: expired on" "$WORK/try-old-1.log"
check "an expired client certificate is refused; the orchestrator says expired" \
  wait_until 15 refused_hello "$WORK/certs/agent-old-1.crt" "$WORK/certs/agent-old-1.key" \
  "refused a connection: the client's certificate (agent old-1.*expired on"
AGENT_NET[iad-1]=1
try_agent iad-1 agent-fra-1
AGENT_NET[iad-1]=2
check "an agent certificate for another node is refused, naming both nodes" \
  grep -q "certificate names node 'fra-1' but its Register claims 'iad-1'" "$WORK/orch-1.log" "$WORK/orch-2.log"
check "history at the end: no violations" history_clean
finish
