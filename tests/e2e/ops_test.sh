#!/usr/bin/env bash
# End to end, as an operator meets the daemons (issue 19's faults): `prewarm orchestrator`,
# `prewarm agent` (fake runtime) and `prewarm forecaster` on 127.0.0.35-39 only.
#  - SIGHUP stops none of them: each re-reads its config, applies log_level, names the
#    fields that need a restart, and keeps running on its config when the new one is bad.
#  - A region named `eu"west\` and a template with a quote and a backslash leave /metrics
#    parseable by Prometheus (promtool check metrics); so are the agent's and the
#    forecaster's own /metrics.
#  - A directory as --config and an unknown log_level are errors, not a start on defaults.
# Usage: ops_test.sh PATH/TO/prewarm
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
PREWARM=${1:?usage: ops_test.sh PATH/TO/prewarm}
command -v curl >/dev/null || { echo "SKIP: curl not installed"; exit 77; }

WORK=$(mktemp -d /tmp/prewarm-e2e-ops.XXXXXX)
ORCH=127.0.0.35
# orch_config LOG_LEVEL STABLE_TTL
orch_config() {
  cat <<YAML
log_level: $1
dns: {listen: $ORCH:5360, udp_threads: 1}
grpc: {listen: $ORCH:7460}
http: {listen: $ORCH:9460}
ttl: {stable_s: $2, short_s: 5}
origin: {addresses: [$ORCH], check: false}
services:
  - {name: static, template: static}
  - {name: quoted, template: 'q"uo\te'}
regions:
  - {name: frankfurt, latitude: 50.11, longitude: 8.68}
  - {name: 'eu"west\', latitude: 53.35, longitude: -6.26}
networks: [{cidr: 127.0.0.0/8, region: frankfurt}]
default_region: frankfurt
YAML
}
# agent_config LOG_LEVEL
agent_config() {
  cat <<YAML
log_level: $1
node: {id: ops-1, region: frankfurt, latitude: 50.11, longitude: 8.68}
orchestrators: [$ORCH:7460]
origin: http://$ORCH:8460
capacity: {slots: 2, memory: 256MiB}
addresses: {range: 127.0.0.36/30, port: 8088, standby: 1, quarantine_s: 5}
runtime: {kind: fake, state_dir: $WORK/agent, cache_dir: $WORK/cache}
heartbeat_ms: 500
http: {listen: $ORCH:9461}
templates:   # the fake runtime serves the preloaded content itself; the command is not run
  - {name: static, command: [/usr/bin/prewarm-httpd, --root, /srv/content], memory: 32MiB, scratch: 16MiB, probe: /, preload: [index.html]}
YAML
}
# forecaster_config LOG_LEVEL
forecaster_config() {
  cat <<YAML
log_level: $1
id: ops-forecaster
orchestrators: [$ORCH:7460]
step_s: 1
horizon_s: 5
min_history_steps: 30
model: snaive
transform: none
costs: {idle_instance_second: 1, cold_start: {premium: 9}}
templates: [{name: static, per_instance_concurrency: 1, start_time_s: 0, preload: [index.html]}]
http: {listen: $ORCH:9462}
YAML
}

orch_config info 30 >"$WORK/orch.yaml"
agent_config info >"$WORK/agent.yaml"
forecaster_config info >"$WORK/fc.yaml"
"$PREWARM" orchestrator --config "$WORK/orch.yaml" >"$WORK/orch.log" 2>&1 &
ORCH_PID=$!
"$PREWARM" agent --config "$WORK/agent.yaml" >"$WORK/agent.log" 2>&1 &
AGENT_PID=$!
"$PREWARM" forecaster --config "$WORK/fc.yaml" >"$WORK/fc.log" 2>&1 &
FC_PID=$!
cleanup() {
  kill -TERM "$FC_PID" "$AGENT_PID" "$ORCH_PID" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

CTL=("$PREWARM" ctl --orchestrator "$ORCH:7460")
# running PID: the process exists and is not a zombie (it did not exit).
running() { [[ -r /proc/$1/status ]] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status"; }
connected() { "${CTL[@]}" nodes | grep -q '^ops-1 '; }
subscribed() { curl -sf "http://$ORCH:9460/metrics" | grep -qx 'prewarm_forecasters 1'; }
logged() { grep -qF -- "$2" "$1"; }

check "the agent registers with the orchestrator" wait_until 30 connected
check "the forecaster subscribes to its events" wait_until 30 subscribed
stop_if_failed "$WORK/orch.log"

# --- /metrics with hostile label values, checked by Prometheus' own parser.
check "a prefetch for region 'eu\"west\\' and template 'q\"uo\\te' is accepted" \
  bash -c "'${CTL[0]}' ctl --orchestrator $ORCH:7460 prefetch --region 'eu\"west\\' --template 'q\"uo\\te' --target 1 | grep -q accepted"
curl -sf "http://$ORCH:9460/metrics" >"$WORK/metrics.txt"
check "the region's label value is escaped in /metrics" \
  grep -qF 'prewarm_prefetch_target{region="eu\"west\\",template="q\"uo\\te"} 1' "$WORK/metrics.txt"
if command -v promtool >/dev/null; then
  check "promtool check metrics accepts the whole scrape" bash -c "promtool check metrics <'$WORK/metrics.txt'"
  for port in 9461 9462; do  # the agent's and the forecaster's own /metrics
    curl -sf "http://$ORCH:$port/metrics" >"$WORK/metrics-$port.txt"
    check "promtool check metrics accepts http://$ORCH:$port/metrics" \
      bash -c "grep -q '^prewarm_build_info{' '$WORK/metrics-$port.txt' && promtool check metrics <'$WORK/metrics-$port.txt'"
  done
else
  echo "SKIP: promtool not installed (Debian package prometheus; tools/install-deps installs it)"
fi

# --- SIGHUP: reload what can be, name the rest, never exit.
orch_config debug 31 >"$WORK/orch.yaml"
kill -HUP "$ORCH_PID"
check "orchestrator: SIGHUP applies the new log_level" \
  wait_until 10 logged "$WORK/orch.log" "SIGHUP: reloaded $WORK/orch.yaml: log_level debug"
check "orchestrator: ... and names the field that needs a restart" \
  wait_until 10 logged "$WORK/orch.log" "not reloaded (read only at start; restart to apply): ttl"
check "orchestrator: still running after SIGHUP" running "$ORCH_PID"
DUP_LINE=$(($(wc -l <"$WORK/orch.yaml") + 1))
printf 'log_level: verbose\n' >>"$WORK/orch.yaml"
kill -HUP "$ORCH_PID"
check "orchestrator: a bad config on SIGHUP is reported with its line and changes nothing" \
  wait_until 10 logged "$WORK/orch.log" "not reloaded, the running config is unchanged: $WORK/orch.yaml:$DUP_LINE: log_level: duplicate key"
check "orchestrator: still running after a SIGHUP with a bad config" running "$ORCH_PID"
check "orchestrator: still serving /healthz" curl -sf "http://$ORCH:9460/healthz"

agent_config debug >"$WORK/agent.yaml"
kill -HUP "$AGENT_PID"
check "agent: SIGHUP applies the new log_level" \
  wait_until 10 logged "$WORK/agent.log" "SIGHUP: reloaded $WORK/agent.yaml: log_level debug"
check "agent: still running after SIGHUP" running "$AGENT_PID"
forecaster_config warn >"$WORK/fc.yaml"
kill -HUP "$FC_PID"
check "forecaster: SIGHUP applies the new log_level" \
  wait_until 10 logged "$WORK/fc.log" "SIGHUP: reloaded $WORK/fc.yaml: log_level warn"
check "forecaster: still running after SIGHUP" running "$FC_PID"
check "the agent is still connected after the hangups" wait_until 10 connected

# --- A clean stop after all that.
for name in forecaster agent orchestrator; do
  case $name in
    forecaster) pid=$FC_PID ;;
    agent) pid=$AGENT_PID ;;
    orchestrator) pid=$ORCH_PID ;;
  esac
  kill -TERM "$pid"
  wait "$pid"
  rc=$?
  check "$name: exits 0 on SIGTERM" test "$rc" = 0
done

# --- Config files that once started a daemon on defaults.
OUT=$("$PREWARM" orchestrator --config "$WORK" 2>&1)
RC=$?
check "--config DIR is an error naming the directory" \
  bash -c "[[ $RC != 0 ]] && grep -qF \"config file '$WORK' is a directory\" <<<\"\$1\"" _ "$OUT"
OUT=$("$PREWARM" up --config "$WORK" 2>&1)
RC=$?
check "prewarm up --config DIR is an error too (nothing started)" \
  bash -c "[[ $RC != 0 ]] && grep -qF 'is a directory' <<<\"\$1\"" _ "$OUT"
orch_config verbose 30 >"$WORK/bad.yaml"
OUT=$("$PREWARM" orchestrator --config "$WORK/bad.yaml" 2>&1)
RC=$?
check "log_level: verbose is an error naming file, line and field" \
  bash -c "[[ $RC != 0 ]] && grep -qF \"bad.yaml:1: log_level: 'verbose' is not one of\" <<<\"\$1\"" _ "$OUT"

if ((FAILED > 0)); then
  echo "---- orchestrator log ----"; tail -40 "$WORK/orch.log"
  echo "---- agent log ----"; tail -20 "$WORK/agent.log"
  echo "---- forecaster log ----"; tail -20 "$WORK/fc.log"
fi
finish
