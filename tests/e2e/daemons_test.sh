#!/usr/bin/env bash
# End to end with separate daemons, as in production: `prewarm orchestrator` and
# `prewarm agent` from examples/, an origin, and `prewarm ctl` as the operator.
# Checks proactive prefetch, ctl's listings and an instance's logs, agent reconnection
# after an orchestrator restart, drain, bad-config errors and clean agent shutdown.
# Usage: daemons_test.sh PATH/TO/prewarm
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
EXAMPLES=$(cd "$HERE/../../examples" && pwd)
source "$HERE/lib.sh"
PREWARM=${1:?usage: daemons_test.sh PATH/TO/prewarm}
require_root_and runc kdig curl busybox

WORK=$(mktemp -d /tmp/prewarm-e2e-daemons.XXXXXX)
mkdir -p "$WORK/origin"
echo "<h1>daemons test</h1>" >"$WORK/origin/index.html"
busybox httpd -f -p 127.0.0.1:8401 -h "$WORK/origin" &
ORIGIN_PID=$!
# The origin fallback that DNS answers name when no instance can serve (orchestrator.yaml).
busybox httpd -f -p 127.77.0.1:80 -h "$WORK/origin" &
FALLBACK_PID=$!
start_orchestrator() {
  "$PREWARM" orchestrator --config "$EXAMPLES/orchestrator.yaml" >>"$WORK/orch.log" 2>&1 &
  ORCH_PID=$!
}
start_orchestrator
"$PREWARM" agent --config "$EXAMPLES/agent.yaml" >"$WORK/agent.log" 2>&1 &
AGENT_PID=$!
cleanup() {
  kill -TERM "$AGENT_PID" "$ORCH_PID" "$ORIGIN_PID" "$FALLBACK_PID" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

CTL=("$PREWARM" ctl --orchestrator 127.0.0.1:7401)
DNS=(@127.0.0.1 -p 5354)
connected() { "${CTL[@]}" nodes | grep -E '^fra-2 .* yes ' ; }
ready_count() { "${CTL[@]}" instances | grep -c ' ready '; }
two_ready() { [[ $(ready_count) == 2 ]]; }
metric() { curl -s http://127.0.0.1:9401/metrics | awk -v m="$1" '$1 == m {print $2}'; }

check "the agent registers with the orchestrator" wait_until 30 connected

# --- Proactive: a prefetch request creates warm instances before any DNS query.
check "prewarm ctl prefetch is accepted" bash -c "'${CTL[0]}' ctl --orchestrator 127.0.0.1:7401 prefetch --region frankfurt --template static --target 2 --content index.html | grep -q 'accepted 1'"
check "two instances become ready without any client query" wait_until 30 two_ready
check "ctl -o json (address from PREWARM_ADDR, flag after the subcommand) lists them as JSON" \
  bash -c "PREWARM_ADDR=127.0.0.1:7401 '${CTL[0]}' ctl instances -o json | python3 -c 'import json, sys; d = json.load(sys.stdin); sys.exit(sum(i[\"state\"] == \"INSTANCE_STATE_READY\" and i[\"node_id\"] == \"fra-2\" for i in d[\"instances\"]) != 2)'"
check "ctl watch draws the listing every interval, --count times, and stops" \
  bash -c "[[ \$('${CTL[0]}' ctl --orchestrator 127.0.0.1:7401 watch instances -n 0.3 --count 3 | grep -c '^every 0.3s: .* instances') == 3 && \$('${CTL[0]}' ctl --orchestrator 127.0.0.1:7401 watch instances -n 0.3 --count 3 | grep -c ' fra-2 .* ready ') == 6 ]]"
check "ctl watch -o json writes one response per line" \
  bash -c "'${CTL[0]}' ctl --orchestrator 127.0.0.1:7401 watch nodes -o json -n 0.2 --count 2 | python3 -c 'import json, sys; l = [json.loads(x) for x in sys.stdin]; sys.exit(len(l) != 2 or l[1][\"nodes\"][0][\"node_id\"] != \"fra-2\")'"
check "ctl watch ends on SIGINT with the exit code of its last listing" \
  bash -c "'${CTL[0]}' ctl --orchestrator 127.0.0.1:7401 watch nodes -n 5 >/dev/null & p=\$!; sleep 1; kill -INT \$p; wait \$p"
ANSWER=$(kdig "${DNS[@]}" static.edge.example A | grep -E '^static')
check "the first DNS query is answered warm (TTL 30, no cold path)" \
  bash -c "[[ \$(awk '{print \$2}' <<<'$ANSWER') == 30 && \$(curl -s http://127.0.0.1:9401/metrics | awk '\$1 == \"prewarm_cold_path_answers_total\" {print \$2}') == 0 ]]"
ADDR=$(awk '{print $5}' <<<"$ANSWER")
check "the warm instance serves the prefetched content" \
  bash -c "curl -sf --max-time 10 http://$ADDR/ | grep -q 'daemons test'"
# --- ctl templates, forecasts and logs, against the two running instances.
templates_ok() {
  "${CTL[@]}" templates | grep -qE '^static +static +standard .* 2/2 +oci +fra-2$' &&
    "${CTL[@]}" templates -o json | python3 -c 'import json, sys
t = json.load(sys.stdin)["templates"][0]
sys.exit(not (t["name"] == "static" and t["nodes"] == ["fra-2"] and t["instances_ready"] == 2))'
}
check "ctl templates lists static, its plan, node and ready instances (table and JSON)" templates_ok
forecasts_ok() {
  "${CTL[@]}" forecasts | grep -qE '^frankfurt +static +- +0\.900 +0\.00 +- +- +2 +[-+][0-9]+s  [-+][0-9]+s\.\.\+[0-9]+s 2$' &&
    "${CTL[@]}" forecasts --region frankfurt -o json | python3 -c 'import json, sys
k = json.load(sys.stdin)["keys"]
sys.exit(not (len(k) == 1 and k[0]["latest"]["request"]["target_concurrency"] == 2
              and len(k[0]["windows"]) == 1))'
}
check "ctl forecasts shows the latest request and its open window (table and JSON)" forecasts_ok
check "ctl watch templates redraws the templates listing --count times" \
  bash -c "[[ \$('${CTL[0]}' ctl --orchestrator 127.0.0.1:7401 watch templates -n 0.2 --count 2 | grep -cE '^static +static +standard .* 2/2 ') == 2 ]]"
check "ctl watch forecasts --region -o json: one filtered response per line" \
  bash -c "'${CTL[0]}' ctl --orchestrator 127.0.0.1:7401 watch forecasts --region frankfurt -o json -n 0.2 --count 2 | python3 -c 'import json, sys; l = [json.loads(x) for x in sys.stdin]; sys.exit(len(l) != 2 or [k[\"region\"] for k in l[1][\"keys\"]] != [\"frankfurt\"])'"
check "ctl watch forecasts --region elsewhere lists no key" \
  bash -c "'${CTL[0]}' ctl --orchestrator 127.0.0.1:7401 watch forecasts --region nowhere -o json --count 1 | python3 -c 'import json, sys; sys.exit(json.load(sys.stdin)[\"keys\"] != [])'"
INSTANCE=$("${CTL[@]}" instances -o json | python3 -c 'import json, sys
print(next(i["instance_id"] for i in json.load(sys.stdin)["instances"] if i["node_id"] == "fra-2"))')
check "ctl logs prints the workload's output, fetched from its agent" \
  bash -c "'${CTL[0]}' ctl --orchestrator 127.0.0.1:7401 logs '$INSTANCE' | grep -qx 'prewarm-httpd: serving /srv/content'"
check "ctl logs --tail 1 -o json gives one line" \
  bash -c "'${CTL[0]}' ctl --orchestrator 127.0.0.1:7401 logs '$INSTANCE' --tail 1 -o json | python3 -c 'import json, sys; d = json.load(sys.stdin); sys.exit(d[\"output\"].count(chr(10)) != 1 or d[\"node_id\"] != \"fra-2\")'"
check "ctl logs of an unknown instance exits 1 with NOT_FOUND naming it" \
  bash -c "out=\$('${CTL[0]}' ctl --orchestrator 127.0.0.1:7401 logs no-such-1 2>&1); [[ \$? == 1 ]] && grep -q 'instance no-such-1 is unknown to the orchestrator' <<<\"\$out\""
check "ctl logs without an instance is a usage error (exit 2)" \
  bash -c "'${CTL[0]}' ctl --orchestrator 127.0.0.1:7401 logs >/dev/null 2>&1; [[ \$? == 2 ]]"

check "bad prefetch (unknown region) is rejected with a reason" \
  bash -c "! '${CTL[0]}' ctl --orchestrator 127.0.0.1:7401 prefetch --region atlantis --template static 2>&1 | grep -q accepted; '${CTL[0]}' ctl --orchestrator 127.0.0.1:7401 prefetch --region atlantis --template static 2>&1 | grep -q \"unknown region 'atlantis'\""

# --- The orchestrator dies and comes back: the agent reconnects and its instances
# (still running) are adopted and answered again.
kill -9 "$ORCH_PID"
wait "$ORCH_PID" 2>/dev/null
start_orchestrator
check "after an orchestrator restart the agent reconnects" wait_until 30 connected
check "its running instances are adopted again" wait_until 30 two_ready
check "and answered from DNS again" \
  bash -c "kdig ${DNS[*]} +short static.edge.example A | grep -q '^127\.77\.9\.'"

# --- Drain: instances leave DNS at once; with no other capacity, the origin answers.
check "prewarm ctl drain" bash -c "'${CTL[0]}' ctl --orchestrator 127.0.0.1:7401 drain fra-2 | grep -q 'draining 2'"
check "a drained node's instances leave DNS: the origin address is answered" \
  bash -c "[[ \$(kdig ${DNS[*]} +short static.edge.example A) == 127.77.0.1 ]]"

# --- Bad configs are rejected with file, line and field.
printf 'zone: edge.example.\nregions:\n  - {name: a, latitude: 100, longitude: 0}\n' >"$WORK/bad.yaml"
OUT=$("$PREWARM" orchestrator --config "$WORK/bad.yaml" 2>&1)
RC=$?
check "a bad orchestrator config exits non-zero naming file:line and field" \
  bash -c "[[ $RC != 0 ]] && grep -q 'bad.yaml:3: regions\[0\].latitude: 100 is out of range' <<<'$OUT'"
OUT=$("$PREWARM" agent --config /nonexistent.yaml 2>&1)
check "a missing agent config is a clear error" grep -q "cannot read config file '/nonexistent.yaml'" <<<"$OUT"

# --- The agent stops cleanly: every instance destroyed.
kill -TERM "$AGENT_PID"
wait "$AGENT_PID"
RC=$?
check "the agent exits 0 on SIGTERM" bash -c "[[ $RC == 0 ]]"
check "no runc container of the agent is left" bash -c "[[ -z \$(runc --root /run/prewarm/fra-2/runc list -q 2>/dev/null) ]]"
check "no mount of the agent is left" bash -c "! grep -q '/run/prewarm/fra-2/' /proc/self/mountinfo"

if ((FAILED > 0)); then
  echo "---- orchestrator log ----"; cat "$WORK/orch.log"
  echo "---- agent log ----"; cat "$WORK/agent.log"
fi
finish
