#!/usr/bin/env bash
# End to end: orchestrator + forecaster on loopback. History with an hourly peak is seeded;
# live DNS queries feed the event stream; the forecaster's prefetch requests must name the
# right (region, template) and their target must rise before the peak arrives.
# Usage: forecaster_test.sh PATH/TO/prewarm
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
PREWARM=${1:?usage: forecaster_test.sh PATH/TO/prewarm}
for tool in kdig curl python3; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed"; exit 77; }
done

WORK=$(mktemp -d /tmp/prewarm-e2e-forecaster.XXXXXX)
cat >"$WORK/orch.yaml" <<'YAML'
dns: {listen: 127.0.0.1:5355}
grpc: {listen: 127.0.0.1:7402}
http: {listen: 127.0.0.1:9402}
origin: {addresses: [127.0.0.1], check: false}   # no instance runs here: never answered
services: [{name: static, template: static, tier: premium, service_time_s: 1}]
regions:
  - {name: frankfurt, latitude: 50.11, longitude: 8.68}
  - {name: virginia, latitude: 38.95, longitude: -77.45}
networks:
  - {cidr: 198.51.100.0/24, region: virginia}
default_region: frankfurt
YAML
cat >"$WORK/forecaster.yaml" <<YAML
id: e2e-forecaster
orchestrator: 127.0.0.1:7402
step_s: 1
refit_every_s: 600
horizon_s: 5
min_history_steps: 30
model: snaive
transform: none
costs: {idle_instance_second: 1, cold_start: {premium: 9}}
templates: [{name: static, per_instance_concurrency: 1, start_time_s: 0, preload: [index.html]}]
YAML
# Two hours of 1-s history for Virginia: 5 requests/s, and 400/s for 10 s every hour,
# the next time starting PEAK_IN seconds from now.
PEAK_IN=25
NOW=$(date +%s)
PEAK=$((NOW + PEAK_IN))
hourly_peak_history "$WORK/history.csv" "$NOW" "$PEAK" 10

"$PREWARM" orchestrator --config "$WORK/orch.yaml" >"$WORK/orch.log" 2>&1 &
ORCH=$!
"$PREWARM" forecaster --config "$WORK/forecaster.yaml" --history "$WORK/history.csv" >"$WORK/fc.log" 2>&1 &
FC=$!
cleanup() {
  kill -TERM "$FC" "$ORCH" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
CTL=("$PREWARM" ctl --orchestrator 127.0.0.1:7402)
metric() { curl -s http://127.0.0.1:9402/metrics | awk -v m="$1" '$1 == m {print $2}'; }
subscribed() { [[ $(metric prewarm_forecasters) == 1 ]]; }
has_prefetch() { "${CTL[@]}" prefetches | grep -q '^virginia '; }

check "the forecaster subscribes to the orchestrator's events" wait_until 30 subscribed
# Live demand from a Virginia client reaches the forecaster through the event stream.
for i in $(seq 1 20); do kdig @127.0.0.1 -p 5355 +subnet=198.51.100.0/24 +short static.edge.example A >/dev/null; done
events() { (( $(metric prewarm_request_events_total) >= 20 )); }
check "live DNS answers are counted as request events" wait_until 10 events
check "a prefetch request for (virginia, static) arrives" wait_until 30 has_prefetch

target() { "${CTL[@]}" prefetches | awk '$1 == "virginia" && $2 == "static" {print $3}'; }
BEFORE=$(target)
check "well before the peak the target is the base load ($BEFORE)" bash -c "[[ -n '$BEFORE' ]] && (( $BEFORE <= 20 ))"
check "quantile comes from the tier costs: 9 / (9 + 1) = 0.9" \
  bash -c "'${CTL[0]}' ctl --orchestrator 127.0.0.1:7402 prefetches | awk '\$1 == \"virginia\" {print \$4}' | grep -qx 0.900"
# The window (5 s) reaches the peak before the peak starts: the target must rise to the
# peak's 400 instances (400/s x 1 s / 1 per instance) while the peak is still ahead.
risen() { local t; t=$(target); [[ -n "$t" ]] && (( t >= 300 )); }
wait_until $((PEAK_IN + 5)) risen
ROSE_AT=$(date +%s)
check "the target rises to the peak's capacity" risen
check "... and it rose before the peak began (at $ROSE_AT, peak at $PEAK)" bash -c "(( $ROSE_AT < $PEAK ))"

if ((FAILED > 0)); then
  echo "---- orchestrator ----"; tail -30 "$WORK/orch.log"
  echo "---- forecaster ----"; tail -30 "$WORK/fc.log"
  "${CTL[@]}" prefetches
fi
finish
