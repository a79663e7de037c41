# A cluster of separate processes for the cluster end-to-end tests and bench/cluster:
# 3 etcd members (Debian's etcd), 2 `prewarm orchestrator` replicas and 3 `prewarm agent`s
# (fake runtime: in-process HTTP instances, so an agent killed takes its instances with
# it), every gRPC link mutual TLS with certificates from `prewarm certs init`. Source it
# after lib.sh, with PREWARM and WORK set.
#
# Addresses (loopback only): etcd 127.0.0.31-33:2379 (peers :2380), and the same members
# again on 127.0.1.31-33:2379 for the replica named in ALT_ETCD_REPLICA (a partition test
# drops that path alone); replica i on
# 127.0.0.i: DNS :5360, gRPC :7410, HTTP :9410; agents fra-1/iad-1/sin-1 on
# 127.78.1-3.0/24 port 8088; the origin on 127.0.0.1:8405 and the fallback 127.78.0.1:8088.

ETCD_IPS=(127.0.0.31 127.0.0.32 127.0.0.33)
ETCD_ALT_IPS=(127.0.1.31 127.0.1.32 127.0.1.33)
ALT_ETCD_REPLICA=${ALT_ETCD_REPLICA:-}
REPLICAS=(1 2)
AGENTS=(fra-1 iad-1 sin-1)
declare -A ETCD_PID ORCH_PID AGENT_PID
declare -A AGENT_REGION=([fra-1]=frankfurt [iad-1]=virginia [sin-1]=singapore)
declare -A AGENT_LAT=([fra-1]=50.11 [iad-1]=38.95 [sin-1]=1.35)
declare -A AGENT_LON=([fra-1]=8.68 [iad-1]=-77.45 [sin-1]=103.82)
declare -A AGENT_NET=([fra-1]=1 [iad-1]=2 [sin-1]=3)

# etcd_endpoints [alt]: the members' client endpoints (the alternate addresses with "alt").
etcd_endpoints() {
  local ip out="" ips=("${ETCD_IPS[@]}")
  [[ "${1:-}" == alt ]] && ips=("${ETCD_ALT_IPS[@]}")
  for ip in "${ips[@]}"; do out+="${out:+,}$ip:2379"; done
  echo "$out"
}

cluster_certs() {
  "$PREWARM" certs init "$WORK/certs" \
    --orchestrator orchestrator-1=127.0.0.1,localhost --orchestrator orchestrator-2=127.0.0.2,localhost \
    --etcd etcd-1=127.0.0.31,127.0.1.31,127.0.0.1 --etcd etcd-2=127.0.0.32,127.0.1.32,127.0.0.1 \
    --etcd etcd-3=127.0.0.33,127.0.1.33,127.0.0.1 \
    --agent fra-1=127.78.1.0/24 --agent iad-1=127.78.2.0/24 --agent sin-1=127.78.3.0/24 >"$WORK/certs.log"
}

# start_etcd I [new|existing]: member I (0-based) of the 3, TLS on client and peer links.
start_etcd() {
  local i=$1 state=${2:-new} ip=${ETCD_IPS[$1]} alt=${ETCD_ALT_IPS[$1]} n=$(($1 + 1)) cluster="" j
  for j in 0 1 2; do cluster+="${cluster:+,}etcd-$((j + 1))=https://${ETCD_IPS[$j]}:2380"; done
  mkdir -p "$WORK/etcd-$n"
  etcd --name "etcd-$n" --data-dir "$WORK/etcd-$n/data" \
    --listen-client-urls "https://$ip:2379,https://$alt:2379" --advertise-client-urls "https://$ip:2379" \
    --listen-peer-urls "https://$ip:2380" --initial-advertise-peer-urls "https://$ip:2380" \
    --initial-cluster "$cluster" --initial-cluster-state "$state" --initial-cluster-token "pw-e2e-$$" \
    --heartbeat-interval 50 --election-timeout 500 \
    --cert-file "$WORK/certs/etcd-$n.crt" --key-file "$WORK/certs/etcd-$n.key" \
    --trusted-ca-file "$WORK/certs/ca.crt" --client-cert-auth \
    --peer-cert-file "$WORK/certs/etcd-$n.crt" --peer-key-file "$WORK/certs/etcd-$n.key" \
    --peer-trusted-ca-file "$WORK/certs/ca.crt" --peer-client-cert-auth \
    >>"$WORK/etcd-$n/etcd.log" 2>&1 &
  ETCD_PID[$i]=$!
}

etcdctl_tls() {
  ETCDCTL_API=3 etcdctl --endpoints "$(etcd_endpoints)" --cacert "$WORK/certs/ca.crt" \
    --cert "$WORK/certs/orchestrator-1.crt" --key "$WORK/certs/orchestrator-1.key" "$@"
}
etcd_healthy() { etcdctl_tls endpoint health >/dev/null 2>&1; }

orchestrator_config() {
  local r=$1 via=""
  [[ "$r" == "$ALT_ETCD_REPLICA" ]] && via=alt
  cat <<YAML
zone: edge.example.
nameservers:
  - {name: ns1.edge.example., addresses: [127.0.0.1]}
  - {name: ns2.edge.example., addresses: [127.0.0.2]}
dns: {listen: 127.0.0.$r:5360, udp_threads: 1, tcp: true}
grpc: {listen: 127.0.0.$r:7410}
http: {listen: 127.0.0.$r:9410}
ttl: {stable_s: 2, short_s: 1}
origin: {addresses: [127.78.0.1], port: 8088}
services: [{name: static, template: static}]
regions:
  - {name: frankfurt, latitude: 50.11, longitude: 8.68}
  - {name: virginia, latitude: 38.95, longitude: -77.45}
  - {name: singapore, latitude: 1.35, longitude: 103.82}
networks:
  - {cidr: 192.0.2.0/24, region: frankfurt}
  - {cidr: 198.51.100.0/24, region: virginia}
  - {cidr: 203.0.113.0/24, region: singapore}
default_region: frankfurt
node_timeout_s: 3
keepalive_s: 600
cluster:
  replica_id: orchestrator-$r
  store:
    kind: etcd
    endpoints: [$(etcd_endpoints $via)]
    tls: {ca: $WORK/certs/ca.crt, cert: $WORK/certs/orchestrator-$r.crt, key: $WORK/certs/orchestrator-$r.key}
  history_log: $WORK/history-$r.jsonl
tls: {ca: $WORK/certs/ca.crt, cert: $WORK/certs/orchestrator-$r.crt, key: $WORK/certs/orchestrator-$r.key}
YAML
}

start_orchestrator() {
  local r=$1
  orchestrator_config "$r" >"$WORK/orch-$r.yaml"
  "$PREWARM" orchestrator --config "$WORK/orch-$r.yaml" >>"$WORK/orch-$r.log" 2>&1 &
  ORCH_PID[$r]=$!
}

# agent_config ID [CERT_STEM] [CA_DIR]
agent_config() {
  local id=$1 stem=${2:-agent-$1} ca=${3:-$WORK/certs} n=${AGENT_NET[$1]}
  cat <<YAML
node: {id: $id, region: ${AGENT_REGION[$id]}, latitude: ${AGENT_LAT[$id]}, longitude: ${AGENT_LON[$id]}}
orchestrators: [127.0.0.$((n % 2 + 1)):7410, 127.0.0.$(((n + 1) % 2 + 1)):7410]
tls: {ca: $ca/ca.crt, cert: $WORK/certs/$stem.crt, key: $WORK/certs/$stem.key}
origin: http://127.0.0.1:8405
capacity: {slots: 8, memory: 1GiB}
addresses: {range: 127.78.$n.0/24, port: 8088, standby: 2, quarantine_s: 5}
runtime: {kind: fake, state_dir: $WORK/agent-$id, cache_dir: $WORK/cache}
heartbeat_ms: 1000
http: {listen: 127.0.0.1:0}   # /metrics on any free port: agents of one test never clash
templates:   # the fake runtime serves the preloaded content itself; the command is not run
  - {name: static, command: [/usr/bin/prewarm-httpd, --root, /srv/content], memory: 32MiB, scratch: 16MiB, probe: /, preload: [index.html]}
YAML
}

start_agent() {
  local id=$1
  agent_config "$id" >"$WORK/agent-$id.yaml"
  "$PREWARM" agent --config "$WORK/agent-$id.yaml" >>"$WORK/agent-$id.log" 2>&1 &
  AGENT_PID[$id]=$!
}

start_cluster() {
  mkdir -p "$WORK/origin"
  echo "<h1>cluster test</h1>" >"$WORK/origin/index.html"
  busybox httpd -f -p 127.0.0.1:8405 -h "$WORK/origin" &
  ORIGIN_PID=$!
  busybox httpd -f -p 127.78.0.1:8088 -h "$WORK/origin" &
  FALLBACK_PID=$!
  cluster_certs
  local i
  for i in 0 1 2; do start_etcd "$i"; done
  wait_until 30 etcd_healthy || return 1
  for i in "${REPLICAS[@]}"; do start_orchestrator "$i"; done
  for i in "${AGENTS[@]}"; do start_agent "$i"; done
}

stop_cluster() {
  local p
  for p in "${AGENT_PID[@]}" "${ORCH_PID[@]}" "${ETCD_PID[@]}" "${ORIGIN_PID:-}" "${FALLBACK_PID:-}"; do
    [[ -n "$p" ]] && kill -KILL "$p" 2>/dev/null
  done
  wait 2>/dev/null
}

health() { curl -s --max-time 2 "http://127.0.0.$1:9410/healthz"; }
leader() {  # the replica number that leads, per replica 1's or 2's view
  local r
  for r in "${REPLICAS[@]}"; do
    if health "$r" | grep -q "role=leader"; then echo "$r"; return 0; fi
  done
  return 1
}
nodes_on() { health "$1" | grep -q "nodes=$2 "; }
ctl() { "$PREWARM" ctl --certs "$WORK/certs" --orchestrator "127.0.0.$1:7410" "${@:2}"; }
# dig_a REPLICA [kdig args]: the A records of static.edge.example from that replica.
dig_a() { kdig @127.0.0.$1 -p 5360 +short +time=1 +retry=0 "${@:2}" static.edge.example A; }
ready_instances() { ctl "$1" instances | grep -c " ready "; }
check_history() {
  "$PREWARM" cluster check-history --allowance-ms 1000 "$WORK"/history-*.jsonl
}
# The check after each fault: the checker's summary, and 0 violations.
history_clean() {
  local out
  out=$(check_history 2>&1)
  echo "$out" | head -5
  grep -q " 0 violations" <<<"$out"
}
# finish_cluster NAME: stops everything; on a failed check keeps $WORK's logs where CI can
# pick them up (/tmp/prewarm-e2e-logs/NAME.PID); removes $WORK unless KEEP_WORK is set.
finish_cluster() {
  stop_cluster
  if ((FAILED > 0)); then
    mkdir -p /tmp/prewarm-e2e-logs && cp -r "$WORK" "/tmp/prewarm-e2e-logs/$1.$$" &&
      echo "logs kept in /tmp/prewarm-e2e-logs/$1.$$"
  fi
  [[ -n "${KEEP_WORK:-}" ]] || rm -rf "$WORK"
}
