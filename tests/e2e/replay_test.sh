#!/usr/bin/env bash
# End to end: `prewarm replay` drives the real `prewarm up` (embedded default: 3 runc
# agents) with a small trace, as clients would: a DNS query with the ECS of the arrival's
# region, then a GET to the answer. Every request must be answered and marked warm or cold
# by the workload, the first of a region cold (nothing runs before it), and the instance
# memory measured from the orchestrator's per-template counts.
# Usage: replay_test.sh PATH/TO/prewarm
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
PREWARM=${1:?usage: replay_test.sh PATH/TO/prewarm}
require_root_and runc kdig curl python3
WORK=$(mktemp -d /tmp/prewarm-e2e-replay.XXXXXX)
LOG="$WORK/up.log"
start_up "$LOG"
trap 'stop_up; rm -rf "$WORK"' EXIT
check "prewarm up comes up with three agents connected" wait_until 60 three_nodes
stop_if_failed "$LOG"

# Three minutes of two regions' traffic; the middle minute is quiet for Singapore.
cat >"$WORK/trace.csv" <<'CSV'
timestamp,region,template,count
0,frankfurt,static,12
0,singapore,static,6
60,frankfurt,static,12
120,frankfurt,static,12
120,singapore,static,6
CSV
ECS=(--ecs frankfurt=192.0.2.0/24 --ecs singapore=203.0.113.0/24)
"$PREWARM" replay --trace "$WORK/trace.csv" --target 127.0.0.1:5353 --port 80 --speed 20 \
  "${ECS[@]}" --metrics http://127.0.0.1:9400/metrics --scrape-s 0.5 \
  --json "$WORK/run.json" --svg "$WORK/run.svg" >"$WORK/out.txt" 2>"$WORK/err.txt"
RC=$?
cat "$WORK/out.txt"
check "replay exits 0" test "$RC" -eq 0 || tail -5 "$WORK/err.txt"
summary() { python3 -c "import json; print(json.load(open('$WORK/run.json'))['summary']['$1'])" 2>/dev/null; }
SENT=$(summary sent) ANSWERED=$(summary answered) UNMARKED=$(summary unmarked) COLD=$(summary cold)
check "every one of the 48 arrivals was sent and answered ($SENT, $ANSWERED)" \
  test "${SENT:-0}" -eq 48 -a "${ANSWERED:-0}" -eq 48
check "every response says whether it waited for a start ($UNMARKED unmarked)" test "${UNMARKED:-1}" -eq 0
check "the first requests waited for an instance to start: at least one cold ($COLD)" \
  test "${COLD:-0}" -ge 1
check "the later ones found it warm: not all cold" test "${COLD:-48}" -lt 48
check "instance memory was measured from the orchestrator's counts" \
  bash -c "python3 -c \"import json; s = json.load(open('$WORK/run.json'))['summary']; assert s['loaded_mb_h'] > 0 and s['scrape_errors'] == 0\""
check "per-request records name Singapore's answers in 127.77.3.0/24" \
  bash -c "python3 -c \"import json; j = json.load(open('$WORK/run.json')); assert all(r['address'].startswith('127.77.3.') for r in j['requests'] if j['keys'][r['key']]['region'] == 'singapore')\""
check "an SVG was written" grep -q '<svg' "$WORK/run.svg"
check "the orchestrator exports per-template instance counts" \
  bash -c "curl -s http://127.0.0.1:9400/metrics | grep -q '^prewarm_template_instances{template=\"static\",state=\"ready\"}'"

# Bad input: a region without a client subnet, a target off loopback.
"$PREWARM" replay --trace "$WORK/trace.csv" --target 127.0.0.1:5353 --ecs frankfurt=192.0.2.0/24 \
  >/dev/null 2>"$WORK/bad.txt"
check "a region without --ecs is refused (exit 2) and named" \
  bash -c "[[ $? == 2 ]] && grep -q 'singapore' '$WORK/bad.txt'"
"$PREWARM" replay --trace "$WORK/trace.csv" --target 192.0.2.53:53 "${ECS[@]}" >/dev/null 2>"$WORK/bad2.txt"
check "a target off loopback is refused" grep -q 'loopback' "$WORK/bad2.txt"

# The published hybrid histogram (`autoscaler: {policy: hybrid-histogram}`) live, on the
# same trace: until a key has 5 idle times each idle period keeps its instance for the
# standard 4 h, so after each region's first start nothing is drained and the later
# requests are warm. (It once drained every instance as soon as it was ready: a client
# answered before it connects looked idle.)
stop_up
"$PREWARM" up --print-config |
  sed 's/autoscaler: {policy: predictive}/autoscaler: {policy: hybrid-histogram}/' >"$WORK/hybrid.yaml"
check "the hybrid's config names its policy" grep -q 'policy: hybrid-histogram' "$WORK/hybrid.yaml"
HLOG="$WORK/up-hybrid.log"
start_up "$HLOG" --config "$WORK/hybrid.yaml"
trap 'stop_up; rm -rf "$WORK"' EXIT
check "prewarm up comes up again under the hybrid histogram" wait_until 60 three_nodes
stop_if_failed "$HLOG"
"$PREWARM" replay --trace "$WORK/trace.csv" --target 127.0.0.1:5353 --port 80 --speed 20 \
  "${ECS[@]}" --json "$WORK/hybrid.json" >"$WORK/hybrid-out.txt" 2>"$WORK/hybrid-err.txt"
check "replay under the hybrid exits 0" test $? -eq 0 || tail -5 "$WORK/hybrid-err.txt"
hsummary() { python3 -c "import json; print(json.load(open('$WORK/hybrid.json'))['summary']['$1'])" 2>/dev/null; }
HANSWERED=$(hsummary answered) HCOLD=$(hsummary cold)
check "under the hybrid every arrival was answered ($HANSWERED)" test "${HANSWERED:-0}" -eq 48
check "under the hybrid only the starts of the first requests were cold ($HCOLD of 48)" \
  test "${HCOLD:-48}" -le 6
check "under the hybrid no instance was drained while its key's keep-alive window held" \
  bash -c "! grep 'reconciler: drain' '$HLOG'"
finish
