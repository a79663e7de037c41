#!/usr/bin/env bash
# End to end: `prewarm up` with real runc agents, its forecaster seeded with a recurring
# load (an hourly peak), and the reconciler in the live orchestrator. Instances for the
# peak must appear before the peak, with reason "prefetch", and the surplus must be
# drained (out of DNS) and destroyed once the window has passed.
# Usage: reconciler_test.sh PATH/TO/prewarm
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
PREWARM=${1:?usage: reconciler_test.sh PATH/TO/prewarm}
require_root_and runc kdig curl python3

WORK=$(mktemp -d /tmp/prewarm-e2e-reconciler.XXXXXX)
# History: 5 requests/s, and 400/s for 12 s every hour, the next time PEAK_IN s from now.
# At 1 s of service and 200 concurrent requests per instance that is 1 instance, then 2.
PEAK_IN=45
NOW=$(date +%s)
PEAK=$((NOW + PEAK_IN))
hourly_peak_history "$WORK/history.csv" "$NOW" "$PEAK" 12
cat >"$WORK/up.yaml" <<YAML
log_level: info
origin_server: {listen: 127.0.0.1:8404, fallback: 127.77.0.1:80, root: ""}
orchestrator:
  zone: edge.example.
  dns: {listen: 127.0.0.1:5357, udp_threads: 1, tcp: false}
  grpc: {listen: 127.0.0.1:7404}
  http: {listen: 127.0.0.1:9404}
  ttl: {stable_s: 3, short_s: 1}
  origin: {addresses: [127.77.0.1], port: 80}
  services:
    - {name: static, template: static, tier: premium, service_time_s: 1, concurrency: 200, keepalive_s: 4}
  regions:
    - {name: frankfurt, latitude: 50.11, longitude: 8.68}
    - {name: virginia, latitude: 38.95, longitude: -77.45}
  networks:
    - {cidr: 198.51.100.0/24, region: virginia}
  default_region: frankfurt
  node_timeout_s: 5
  keepalive_s: 4
forecaster:
  orchestrator: 127.0.0.1:7404
  step_s: 1
  refit_every_s: 600
  horizon_s: 6
  min_history_steps: 30
  model: snaive
  transform: none
  history: [$WORK/history.csv]
  costs: {idle_instance_second: 1, cold_start: {premium: 9}}
  templates:
    - {name: static, per_instance_concurrency: 200, start_time_s: 1, service_time_s: 1, preload: [index.html]}
agent_defaults:
  orchestrator: 127.0.0.1:7404
  origin: http://127.0.0.1:8404
  capacity: {slots: 4, memory: 1GiB}
  runtime: {kind: oci, binary: runc}
  templates:
    - name: static
      command: [/usr/bin/prewarm-httpd, --root, /srv/content]
      files: {"@prewarm-httpd": /usr/bin/prewarm-httpd}
      memory: 32MiB
      pids: 32
      cpus: 0.5
      scratch: 16MiB
      probe: /
      preload: [index.html]
agents:
  - node: {id: iad-9, region: virginia, latitude: 38.95, longitude: -77.45}
    addresses: {range: 127.77.12.0/24, port: 80, standby: 2}
    runtime: {kind: oci, binary: runc, state_dir: /run/prewarm/e2e-iad-9}
  - node: {id: fra-9, region: frankfurt, latitude: 50.11, longitude: 8.68}
    addresses: {range: 127.77.11.0/24, port: 80, standby: 2}
    runtime: {kind: oci, binary: runc, state_dir: /run/prewarm/e2e-fra-9}
YAML

"$PREWARM" up --config "$WORK/up.yaml" >"$WORK/up.log" 2>&1 &
UP_PID=$!
cleanup() {
  kill -INT "$UP_PID" 2>/dev/null
  wait "$UP_PID" 2>/dev/null
  [[ -n "${KEEP:-}" ]] && cp -r "$WORK" /tmp/e2e-keep; rm -rf "$WORK"
}
trap cleanup EXIT
CTL=("$PREWARM" ctl --orchestrator 127.0.0.1:7404)
metric() { curl -s http://127.0.0.1:9404/metrics | awk -v m="$1" '$1 == m {print $2}'; }
two_nodes() { curl -sf http://127.0.0.1:9404/healthz | grep -q "nodes=2"; }
# Instances of static on the Virginia node, by state.
iad() { "${CTL[@]}" instances --node iad-9 | grep -c " ${1:-ready} "; }
live_iad() { "${CTL[@]}" instances --node iad-9 | grep -cE " (reserved|starting|ready) "; }

check "prewarm up comes up with both agents connected" wait_until 60 two_nodes
if ((FAILED > 0)); then cat "$WORK/up.log"; finish; exit 1; fi

one_ready() { (( $(iad ready) >= 1 )); }
check "the forecast base load (5/s) gets a warm Virginia instance without any query" \
  wait_until 40 one_ready
prefetch_creates() { (( $(metric 'prewarm_reconciler_decisions_total{kind="create",reason="prefetch"}') >= 1 )); }
check "... created by the reconciler for a prefetch window" prefetch_creates
BEFORE=$(live_iad)
check "before the peak's window Virginia runs one instance ($BEFORE)" bash -c "(( $BEFORE == 1 ))"

two_ready() { (( $(iad ready) >= 2 )); }
wait_until $((PEAK - $(date +%s) + 5)) two_ready
AT=$(date +%s)
check "a second instance is ready for the peak" two_ready
check "... before the peak began (ready at $AT, peak at $PEAK)" bash -c "(( $AT < $PEAK ))"
check "no instance was placed in Frankfurt for Virginia's forecast" \
  bash -c "! '${CTL[0]}' ctl --orchestrator 127.0.0.1:7404 instances --node fra-9 | grep -q ' ready '"

# The peak lasts 12 s; after its window the surplus instance is idle past keep-alive (4 s):
# drained (out of DNS first), then destroyed once its answers (TTL 3 s) have expired.
back_to_one() { (( $(live_iad) == 1 )); }
check "after the peak the surplus instance is scaled down" wait_until 60 back_to_one
drains() { (( $(metric 'prewarm_reconciler_decisions_total{kind="drain",reason="idle"}') >= 1 )); }
check "... by an idle drain" drains
destroys() { (( $(metric 'prewarm_reconciler_decisions_total{kind="destroy",reason="idle"}') >= 1 )); }
check "... and a destroy after its DNS answers expired" wait_until 20 destroys
answers() { kdig @127.0.0.1 -p 5357 +subnet=198.51.100.0/24 +short static.edge.example A | grep -q '^127.77.12.'; }
check "DNS still answers Virginia with its warm instance" answers

if ((FAILED > 0)); then
  echo "---- up.log ----"; grep -E "reconciler|prefetch|error|warn" "$WORK/up.log" | tail -40
  "${CTL[@]}" instances
  "${CTL[@]}" prefetches
fi
finish
