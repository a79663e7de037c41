#!/usr/bin/env bash
# End to end (issue 17): a GET to a runc instance's prewarm-httpd becomes a per-content
# count on the forecaster's event stream. The real `prewarm up` (orchestrator, forecaster,
# three runc agents, origin) on loopback: the workload reports through the socket its agent
# bound in the sandbox, the agent sends the counts with its status, the orchestrator puts
# them on the event stream, the forecaster counts them. A changed content list then reaches
# the warm instance: only the ids it lacks.
# Usage: trending_test.sh PATH/TO/prewarm
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
PREWARM=${1:?usage: trending_test.sh PATH/TO/prewarm}
require_root_and runc kdig curl

LOG=$(mktemp /tmp/prewarm-e2e-trending.XXXXXX.log)
start_up "$LOG"
# metric URL NAME{LABELS}: the value of that exact series.
metric() { curl -s "$1/metrics" | awk -v m="$2" '$1 == m {print $2}'; }
FC=http://127.0.0.1:9440
FRA_AGENT=http://127.0.0.1:9430
OK_COUNTS='prewarm_forecaster_content_counts_total{result="ok"}'
COUNTED='prewarm_agent_content_reports_total{node="fra-1",region="frankfurt",template="static",result="counted"}'

check "prewarm up comes up with three agents connected" wait_until 60 three_nodes
stop_if_failed "$LOG"
FRA=$(a_record)
check "source 127.0.0.1 is answered by the Frankfurt node ($FRA)" bash -c "[[ '$FRA' == 127.77.1.* ]]"
serves() { curl -sf --max-time 5 "http://$FRA/hello.txt" >/dev/null; }
check "the Frankfurt instance serves hello.txt" wait_until 20 serves
stop_if_failed "$LOG"
sleep 1 # the reports of serves' GETs reach the agent
BEFORE=$(metric "$FC" "$OK_COUNTS")
FIRST=$(metric "$FRA_AGENT" "$COUNTED")
for i in $(seq 1 5); do curl -s --max-time 5 -o /dev/null "http://$FRA/hello.txt"; done
for i in $(seq 1 2); do curl -s --max-time 5 -o /dev/null "http://$FRA/"; done

counted() { (($(metric "$FRA_AGENT" "$COUNTED") >= ${FIRST:-0} + 7)); }
check "the agent counted the instance's reports" wait_until 10 counted
# The agent's readiness and health probes (GET /, marked X-Prewarm-Probe) keep running
# meanwhile; they are not demand, so the count stays at the 7 GETs above.
sleep 3
check "the agent's own probes are not counted as requests" \
  bash -c "[[ \$(curl -s $FRA_AGENT/metrics | awk -v m='$COUNTED' '\$1 == m {print \$2}') == $((${FIRST:-0} + 7)) ]]"
on_stream() { (($(metric "$FC" "$OK_COUNTS") > ${BEFORE:-0})); }
check "the forecaster received content counts on its event stream" wait_until 15 on_stream
# Two ids were asked for: hello.txt and index.html (ranked at the next planning round,
# step_s 10).
tracked() { (($(metric "$FC" prewarm_forecaster_trending_contents) >= 2)); }
check "the forecaster ranks hello.txt and index.html" wait_until 25 tracked
check "no content count was rejected" \
  bash -c "[[ \$(curl -s $FC/metrics | awk '\$1 == \"prewarm_forecaster_content_counts_total{result=\\\"rejected\\\"}\" {print \$2}') == 0 ]]"
# hello.txt is in the template's preload list: every GET of it is a preload hit.
L='node="fra-1",region="frankfurt",template="static"'
hits() { (($(metric "$FRA_AGENT" "prewarm_agent_preload_hits_total{$L}") >= 5)); }
check "the agent counts the GETs of preloaded hello.txt as preload hits" wait_until 5 hits
check "... out of at least as many requests" \
  bash -c "(( \$(curl -s $FRA_AGENT/metrics | awk -v m='prewarm_agent_preload_requests_total{$L}' '\$1 == m {print \$2}') >= \$(curl -s $FRA_AGENT/metrics | awk -v m='prewarm_agent_preload_hits_total{$L}' '\$1 == m {print \$2}') ))"
# Warm instances: a changed content list reaches the ready Frankfurt instances, only what
# each lacks. The forecaster plans after 30 steps of history (minutes); an operator's
# prefetch window takes the same path (window -> the leader's refresh of each ready
# instance's record -> the stream holding its node -> PreloadContent -> its agent).
ORCH=http://127.0.0.1:9400
PUSHES='prewarm_preload_pushes_total{template="static"}'
PUSHED='prewarm_preload_pushed_ids_total{template="static"}'
FETCHED="prewarm_agent_preload_total{$L,result=\"fetched\"}"
F0=$(metric "$FRA_AGENT" "$FETCHED")
prefetch() {
  "$PREWARM" ctl --orchestrator 127.0.0.1:7400 prefetch --region frankfurt --template static \
    --target 1 --window 120 "$@" 2>/dev/null | grep -q 'accepted 1'
}
at_least() { (($(metric "$1" "$2") >= $3)); }
check "a prefetch window listing video/seg1.ts is accepted" prefetch --content video/seg1.ts
check "the orchestrator pushes it to the ready instance" wait_until 10 at_least $ORCH "$PUSHES" 1
sleep 2 # every ready Frankfurt instance's push
P1=$(metric $ORCH "$PUSHES")
check "... whose agent fetches it" wait_until 10 at_least "$FRA_AGENT" "$FETCHED" $((${F0:-0} + 1))
check "a changed window (seg1, seg2) is accepted" prefetch --content video/seg1.ts video/seg2.ts
check "the change is pushed once more per instance" \
  wait_until 10 at_least $ORCH "$PUSHES" $((${P1:-1} * 2))
sleep 2 # a second push per instance would show by now
check "each push carried only the id its instance lacked (ids pushed = pushes = $((${P1:-1} * 2)))" \
  bash -c "[[ \$(curl -s $ORCH/metrics | awk -v m='$PUSHED' '\$1 == m {print \$2}') == $((${P1:-1} * 2)) && \$(curl -s $ORCH/metrics | awk -v m='$PUSHES' '\$1 == m {print \$2}') == $((${P1:-1} * 2)) ]]"
check "... and the agent fetched it" wait_until 10 at_least "$FRA_AGENT" "$FETCHED" $((${F0:-0} + 2))
if command -v promtool >/dev/null; then
  check "the agent's /metrics pass promtool check metrics" \
    bash -c "curl -s $FRA_AGENT/metrics | promtool check metrics"
  check "the orchestrator's /metrics pass promtool check metrics" \
    bash -c "curl -s $ORCH/metrics | promtool check metrics"
fi
if ((FAILED > 0)); then tail -60 "$LOG"; fi
finish
