#!/usr/bin/env bash
# End to end, SIGHUP on a running `prewarm orchestrator` (issue 19, "Run as a service"):
# what it reloads shows in the very next DNS answer, asked with kdig on 127.0.0.50 only
# (DNS 5370, gRPC 7470, HTTP 9470; no agents, so a service answers with the origin).
#  - a new service is NXDOMAIN before and answered after `kill -HUP`; its new template's
#    answers are counted for the forecaster and prefetches for it are accepted at once;
#  - a removed service stops answering; a lowered TTL is the next answer's TTL;
#  - a new `networks:` override changes the ECS scope of the next answer;
#  - a changed listen address is named as needing a restart;
#  - a broken file, and a network in a region the orchestrator did not start with, change
#    nothing: the answers stay as they were and the process keeps running.
# Usage: reload_test.sh PATH/TO/prewarm
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
PREWARM=${1:?usage: reload_test.sh PATH/TO/prewarm}
command -v kdig >/dev/null || { echo "SKIP: kdig not installed (Debian package knot-dnsutils)"; exit 77; }

WORK=$(mktemp -d /tmp/prewarm-e2e-reload.XXXXXX)
ADDR=127.0.0.50
LOOPBACK='[{cidr: 127.0.0.0/8, region: frankfurt}]'
# orch_config SERVICES [SHORT_TTL [NETWORKS [DNS_THREADS]]]: SERVICES and NETWORKS are YAML
# flow lists.
orch_config() {
  local networks=${3:-$LOOPBACK}
  cat <<YAML
log_level: info
dns: {listen: $ADDR:5370, udp_threads: ${4:-1}}
grpc: {listen: $ADDR:7470}
http: {listen: $ADDR:9470}
ttl: {stable_s: 30, short_s: ${2:-5}}
origin: {addresses: [$ADDR], check: false}
services: $1
regions:
  - {name: frankfurt, latitude: 50.11, longitude: 8.68}
  - {name: virginia, latitude: 38.95, longitude: -77.45}
networks: $networks
default_region: frankfurt
YAML
}
STATIC='[{name: static, template: static}]'
BOTH='[{name: static, template: static}, {name: api, template: api}]'
API='[{name: api, template: api}]'

orch_config "$STATIC" >"$WORK/orch.yaml"
"$PREWARM" orchestrator --config "$WORK/orch.yaml" >"$WORK/orch.log" 2>&1 &
ORCH_PID=$!
cleanup() {
  kill -TERM "$ORCH_PID" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

q() { kdig @"$ADDR" -p 5370 +timeout=2 +retry=0 "$@"; }
# status NAME: the rcode of an A query for NAME.edge.example.
status() { q "$1.edge.example" A | sed -n 's/.*status: \([A-Z]*\).*/\1/p' | head -1; }
status_is() { test "$(status "$1")" = "$2"; }
# answers NAME: an A record with the origin's address (nothing else can serve).
answers() { q +short "$1.edge.example" A | grep -qx "$ADDR"; }
ttl_of() { q +noall +answer "$1.edge.example" A | awk '{print $2}' | head -1; }
ttl_is() { test "$(ttl_of "$1")" = "$2"; }
# scope SUBNET: the ECS scope prefix the answer for that client subnet echoes.
scope() { q static.edge.example A +subnet="$1" | sed -n "s|.*CLIENT-SUBNET: ${1}/||p" | head -1; }
scope_is() { test "$(scope "$1")" = "$2"; }
running() { [[ -r /proc/$1/status ]] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status"; }
logged() { grep -qF -- "$1" "$WORK/orch.log"; }
# hup: sends SIGHUP and waits for this reload's outcome line (the Nth "SIGHUP:" verdict).
HUPS=0
hup() {
  HUPS=$((HUPS + 1))
  kill -HUP "$ORCH_PID"
  wait_until 10 bash -c "[[ \$(grep -cE 'SIGHUP: (reloaded|.* not reloaded, the running config is unchanged)' '$WORK/orch.log') -ge $HUPS ]]"
}

check "the orchestrator answers static with the origin" wait_until 30 answers static
stop_if_failed "$WORK/orch.log"
check "before the reload, api is NXDOMAIN" status_is api NXDOMAIN
check "static's answer has the short TTL (5)" ttl_is static 5
check "100.64.1.0/24 matches no override: scope 24" scope_is 100.64.1.0/24 24

# 1. A new service, a lower TTL and a new override in one reload.
orch_config "$BOTH" 2 "[{cidr: 127.0.0.0/8, region: frankfurt}, {cidr: 100.64.0.0/10, region: virginia}]" \
  >"$WORK/orch.yaml"
check "SIGHUP 1 is reloaded" hup
check "after the reload, api answers (NOERROR, the origin's address)" answers api
check "...and static still does" answers static
check "the next answer has the lowered TTL (2)" ttl_is api 2
check "100.64.1.0/24 now matches the new /10 override: scope 10" scope_is 100.64.1.0/24 10
check "the log names what was reloaded" \
  logged "SIGHUP: reloaded $WORK/orch.yaml: log_level info; services: +api (template api); networks: +100.64.0.0/10 -> virginia (38.95, -77.45); ttl: short_s 5 -> 2"
check "the log says what a new template gets" logged "SIGHUP: template api: new; answered from now"
# events_total: the answers counted for the forecaster so far (cut once a second).
events_total() {
  curl -sf "http://$ADDR:9470/metrics" | awk '$1 == "prewarm_request_events_total" {print $2}'
}
events_reach() { test "$(events_total)" -ge "$1"; }
sleep 1.2  # the answers above are cut
BEFORE=$(events_total)
for _ in 1 2 3 4 5; do q +short api.edge.example A >/dev/null; done
check "the new template's 5 answers are counted for the forecaster" \
  wait_until 5 events_reach $((BEFORE + 5))
prefetch_api() {
  "$PREWARM" ctl --orchestrator "$ADDR:7470" prefetch --region frankfurt --template api \
    --target 1 --window 60
}
check "a prefetch for the new template is accepted" prefetch_api
check "its service time is in /metrics" \
  bash -c "curl -sf http://$ADDR:9470/metrics | grep -q '^prewarm_template_service_seconds{template=\"api\"'"
# services_of TEMPLATE: its SERVICES column in `prewarm ctl templates`.
services_of() { "$PREWARM" ctl --orchestrator "$ADDR:7470" templates | awk -v t="$1" '$1 == t {print $2}'; }
check "ctl templates lists template api with service api" test "$(services_of api)" = api

# 2. A removed service stops answering; a changed listen address waits for a restart.
orch_config "$API" 2 "[{cidr: 127.0.0.0/8, region: frankfurt}, {cidr: 100.64.0.0/10, region: virginia}]" 2 \
  >"$WORK/orch.yaml"
check "SIGHUP 2 is reloaded" hup
check "static, removed, is NXDOMAIN" status_is static NXDOMAIN
check "api still answers" answers api
check "the removed service's template is said to drain" \
  logged "SIGHUP: template static: no service names it any more (no instances)"
check "ctl templates shows no service on template static" test "$(services_of static)" = -
check "dns (udp_threads) is named as needing a restart" \
  logged "SIGHUP: not reloaded (read only at start; restart to apply): dns"

# 3. A broken file: nothing changes, the process keeps answering.
orch_config "$BOTH" 1 >"$WORK/orch.yaml"
echo "services: []" >>"$WORK/orch.yaml"  # a duplicate key
check "SIGHUP 3 (a broken file) is refused" hup
check "...with the file's error" logged "not reloaded, the running config is unchanged: $WORK/orch.yaml:"
check "static is still NXDOMAIN" status_is static NXDOMAIN
check "api still answers, with the TTL it had (2)" ttl_is api 2
check "still running after a broken file" running "$ORCH_PID"

# 4. Valid, but a network in a region the orchestrator did not start with: refused whole.
orch_config "$BOTH" 1 "[{cidr: 127.0.0.0/8, region: sydney}]" \
  | sed 's/^regions:$/regions:\n  - {name: sydney, latitude: -33.87, longitude: 151.21}/' >"$WORK/orch.yaml"
check "SIGHUP 4 (a region added) is refused" hup
check "...saying why" logged "names region 'sydney', which the orchestrator did not start with"
check "static is still NXDOMAIN (the services were not applied either)" status_is static NXDOMAIN
check "api still answers with TTL 2" ttl_is api 2
check "still running" running "$ORCH_PID"

kill -TERM "$ORCH_PID"
wait "$ORCH_PID"
RC=$?
check "exits 0 on SIGTERM" test "$RC" = 0

if ((FAILED > 0)); then
  echo "---- orchestrator log ----"
  tail -40 "$WORK/orch.log"
fi
finish
