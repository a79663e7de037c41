#!/usr/bin/env bash
# End to end: the dashboard (/ui) of `prewarm up --runtime fake` in Debian's headless
# Chromium. kdig drives DNS demand from three regions and `prewarm ctl prefetch` adds a
# prefetch window the reconciler acts on; the embedded forecaster runs on 1 s steps (the
# example config, with snaive after 10 steps of history) so that its own windows, with
# their median and band, come within the demand's 15 s. Then:
#  - /ui serves the page and its vendored files (with licences), nothing from outside;
#  - /ui/state is JSON with the nodes, requests, windows and decisions;
#  - /ui/events streams `state` events; a stream past the limit gets 503, and /metrics and
#    /healthz answer while the streams are held open;
#  - Chromium's DOM shows the three nodes on the map, a requests chart with data points,
#    the forecast band with both edges drawn (lower <= median <= upper) and the
#    reconciler's decisions; its screenshot is kept as a test artefact.
# Usage: dashboard_test.sh PATH/TO/prewarm ARTEFACT_DIR
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
PREWARM=${1:?usage: dashboard_test.sh PATH/TO/prewarm ARTEFACT_DIR}
ARTEFACTS=${2:?usage: dashboard_test.sh PATH/TO/prewarm ARTEFACT_DIR}
require_root_and chromium kdig curl python3

WORK=$(mktemp -d /tmp/prewarm-e2e-dashboard.XXXXXX)
LOG="$WORK/up.log"
UI=http://127.0.0.1:9400/ui
# The forecaster on 1 s steps, a 3 s horizon (a fit needs twice its steps ahead), refit
# every 2 s so its band follows the demand below.
"$PREWARM" up --print-config | sed -e 's/^  step_s: 10$/  step_s: 1\n  refit_every_s: 2/' \
  -e 's/^  horizon_s: 60$/  horizon_s: 3/' -e 's/^  min_history_steps: 30$/  min_history_steps: 12/' \
  -e 's/^  model: combo$/  model: snaive/' -e 's/^  transform: log1p$/  transform: none/' >"$WORK/up.yaml"
start_up "$LOG" --config "$WORK/up.yaml" --runtime fake
STREAMS=()
cleanup() {
  for p in "${STREAMS[@]}"; do kill "$p" 2>/dev/null; done
  stop_up
  rm -rf "$WORK"
}
trap cleanup EXIT
check "prewarm up comes up with three agents connected" wait_until 60 three_nodes
stop_if_failed "$LOG"

# --- Demand: 15 s of queries from three regions, 1 to 4 a second from each in turn so the
# forecast has a spread (bounded: 15 rounds of at most 12 queries).
for round in $(seq 1 15); do
  for subnet in 192.0.2.0/24 198.51.100.0/24 203.0.113.0/24; do
    for q in $(seq $((round % 4 + 1))); do
      kdig @127.0.0.1 -p 5353 +short +subnet=$subnet static.edge.example A >/dev/null
    done
  done
  sleep 1
done
"$PREWARM" ctl --orchestrator 127.0.0.1:7400 prefetch --region virginia --template static \
  --target 3 --window 120 >"$WORK/ctl.out" 2>&1
check "ctl prefetch is accepted" grep -q 'accepted 1 prefetch' "$WORK/ctl.out"

# --- /ui/state: the JSON behind the page.
state_has() {
  curl -sf "$UI/state" >"$WORK/state.json" && python3 - "$WORK/state.json" "$1" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
key = lambda r: next(k for k in s["keys"] if k["region"] == r and k["template"] == "static")
conds = {
    "nodes": len(s["nodes"]) == 3 and all(abs(n["lat"]) > 0 for n in s["nodes"]),
    "requests": all(sum(key(r)["requests"]) > 0 for r in ("frankfurt", "virginia", "singapore")),
    "instances": sum(n["instances"]["ready"] + n["instances"]["starting"] for n in s["nodes"]) > 0,
    "decision": any(d["kind"] == "create" and d["reason"] == "prefetch" for d in s["decisions"]),
    "window": any(w["region"] == "virginia" and w["target"] == 3 for w in s["windows"]),
    "cold": sum(s["totals"]["cold_answers"]) > 0,
    "band": any(w["region"] == "frankfurt" and w["lower"] is not None and w["upper"] is not None
                and w["lower_quantile"] < 0.5 < w["upper_quantile"]
                and w["lower"] <= w["median"] <= w["upper"] and w["lower"] < w["upper"]
                for w in s["windows"]),
}
sys.exit(0 if conds[sys.argv[2]] else 1)
PY
}
check "/ui/state lists the three nodes with their coordinates" state_has nodes
check "/ui/state counts requests for every region's key" wait_until 5 state_has requests
check "/ui/state shows the nodes' instances" wait_until 10 state_has instances
check "/ui/state shows cold-path answers per second" state_has cold
check "/ui/state shows the reconciler's create for the prefetch window, with its reason" \
  wait_until 10 state_has decision
check "/ui/state holds the prefetch window with its target" state_has window
check "/ui/state holds the forecaster's Frankfurt windows with a two-sided band around the median" \
  wait_until 20 state_has band

# --- The page and its files.
check "/ui redirects to the page" bash -c "curl -s -o /dev/null -w '%{http_code} %{redirect_url}' $UI | grep -q '^302 .*/ui/$'"
check "/ui/ serves the page" bash -c "curl -sf $UI/ | grep -q '<title>prewarm dashboard</title>'"
check "the page loads nothing from another host" bash -c "! curl -sf $UI/ | grep -Eq '(src|href)=\"(https?:)?//'"
check "the vendored chart library is served with its licence" \
  bash -c "curl -sf $UI/vendor/uplot/uPlot.iife.min.js | grep -q uPlot && curl -sf $UI/vendor/uplot/LICENSE | grep -q 'MIT License'"
check "an unknown file is 404" bash -c "[[ \$(curl -s -o /dev/null -w '%{http_code}' $UI/nope.js) == 404 ]]"

# --- Live updates, bounded: 4 streams are held open, a 5th is refused, scrapes still answer.
check "/ui/events streams state events" \
  bash -c "curl -sN --max-time 3 $UI/events | grep -q '^event: state'"
streams() { curl -s http://127.0.0.1:9400/metrics | awk '$1 == "prewarm_dashboard_streams" {print $2}'; }
no_streams() { [[ $(streams) == 0 ]]; }
check "the first stream's slot is free again once its client left" wait_until 10 no_streams
for i in 1 2 3 4; do
  curl -sN --max-time 30 "$UI/events" >"$WORK/stream$i" 2>/dev/null &
  STREAMS+=($!)
done
four_open() { for i in 1 2 3 4; do grep -q '^event: state' "$WORK/stream$i" || return 1; done; }
check "four streams are open" wait_until 10 four_open
check "/metrics counts them (prewarm_dashboard_streams 4)" bash -c "[[ \$(curl -s http://127.0.0.1:9400/metrics | awk '\$1 == \"prewarm_dashboard_streams\" {print \$2}') == 4 ]]"
check "a fifth stream is refused with 503" \
  bash -c "[[ \$(curl -s -o /dev/null --max-time 5 -w '%{http_code}' $UI/events) == 503 ]]"
check "/healthz answers while the streams are open" curl -sf --max-time 2 http://127.0.0.1:9400/healthz
check "/metrics answers while the streams are open" \
  bash -c "curl -sf --max-time 2 http://127.0.0.1:9400/metrics | grep -q '^prewarm_nodes 3'"
sleep 2
check "an open stream keeps receiving samples (3 or more events)" \
  bash -c "(( \$(grep -c '^event: state' '$WORK/stream1') >= 3 ))"
for p in "${STREAMS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
STREAMS=()
check "closed streams free their slots" wait_until 10 no_streams

# --- Headless Chromium: the DOM and a screenshot.
CHROME=(chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage
  --user-data-dir="$WORK/chrome" --window-size=1280,1500 --hide-scrollbars
  --timeout=5000)
timeout 60 "${CHROME[@]}" --dump-dom "$UI/" >"$WORK/dom.html" 2>"$WORK/chrome.log"
mkdir -p "$ARTEFACTS" && cp "$WORK/dom.html" "$ARTEFACTS/dashboard.html"
attr() { python3 - "$WORK/dom.html" "$@" <<'PY'
import re, sys
dom, sel, attr = open(sys.argv[1]).read(), sys.argv[2], sys.argv[3]
m = re.search(r"<[^>]*" + sel + r"[^>]*>", dom)
v = re.search(attr + r'="([^"]*)"', m.group(0)) if m else None
print(v.group(1) if v else "")
PY
}
check "Chromium rendered the page after at least one update ($(attr 'body ' data-updates))" \
  bash -c "(( $(attr 'body ' data-updates || echo 0) + 0 >= 1 ))"
check "the map shows three nodes" bash -c "[[ '$(attr 'id="map"' data-nodes)' == 3 ]]"
for n in fra-1 iad-1 sin-1; do
  check "node $n is on the map" grep -q "class=\"node\" data-node=\"$n\"" "$WORK/dom.html"
done
check "the map holds the land outline" grep -Eq 'id="land" class="land" d="M[0-9]' "$WORK/dom.html"
REQ_POINTS=$(attr 'data-chart="requests" data-key="frankfurt/static"' data-points)
REQ_NONZERO=$(attr 'data-chart="requests" data-key="frankfurt/static"' data-nonzero)
check "the Frankfurt requests chart has data points ($REQ_POINTS, $REQ_NONZERO non-zero)" \
  bash -c "(( ${REQ_POINTS:-0} >= 10 && ${REQ_NONZERO:-0} >= 1 ))"
check "the chart was drawn (a uPlot canvas)" grep -q '<canvas' "$WORK/dom.html"
FRA='data-chart="requests" data-key="frankfurt/static"'
BAND_LOWER=$(attr "$FRA" data-band-lower)
BAND_UPPER=$(attr "$FRA" data-band-upper)
check "the Frankfurt chart draws the forecast band's lower and upper edges ($BAND_LOWER, $BAND_UPPER points)" \
  bash -c "(( ${BAND_LOWER:-0} >= 1 && ${BAND_UPPER:-0} >= 1 ))"
check "and every point of the band has lower <= median <= upper" \
  bash -c "[[ '$(attr "$FRA" data-band-ordered)' == 1 ]]"
check "the cold-path chart has non-zero points" \
  bash -c "(( $(attr 'data-chart="totals"' data-nonzero || echo 0) + 0 >= 1 ))"
check "the decisions table lists the reconciler's decisions" \
  bash -c "(( $(attr 'id="decisions"' data-decisions || echo 0) + 0 >= 1 )) && grep -q '<td>prefetch</td>' '$WORK/dom.html'"

mkdir -p "$ARTEFACTS"
rm -f "$ARTEFACTS/dashboard.png"
timeout 60 "${CHROME[@]}" --screenshot="$ARTEFACTS/dashboard.png" "$UI/" >>"$WORK/chrome.log" 2>&1
check "a screenshot was saved ($ARTEFACTS/dashboard.png)" \
  bash -c "[[ \$(head -c 8 '$ARTEFACTS/dashboard.png' | od -An -tx1 | tr -d ' ') == 89504e470d0a1a0a ]]"

if ((FAILED > 0)); then
  echo "---- chromium ----"
  tail -20 "$WORK/chrome.log"
  echo "---- prewarm up log ----"
  tail -60 "$LOG"
fi
finish
