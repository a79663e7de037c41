#!/usr/bin/env bash
# End to end: Debian's `prometheus` (the binary, with its own config and data directory
# under /tmp, on a free 127.0.0.1 port; the Debian service stays disabled) scrapes
# `prewarm up --runtime fake` with the shipped scrape config and alert rules
# (deploy/prometheus/), and is queried back over its HTTP API.
#  - prewarm_build_info comes back for the orchestrator, each agent and the forecaster;
#  - every daemon's /metrics passes `promtool check metrics`;
#  - every prewarm_* name the Grafana dashboard and the alert rules use is one a daemon
#    exports (compared against the # TYPE lines of a scrape).
# Usage: prometheus_test.sh PATH/TO/prewarm
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
PREWARM=${1:?usage: prometheus_test.sh PATH/TO/prewarm}
DEPLOY=$(cd "$HERE/../../deploy" && pwd)
require_root_and prometheus promtool curl kdig python3

WORK=$(mktemp -d /tmp/prewarm-e2e-prometheus.XXXXXX)
LOG="$WORK/up.log"
start_up "$LOG" --runtime fake
PROM_PID=
cleanup() {
  [[ -n $PROM_PID ]] && kill -TERM "$PROM_PID" 2>/dev/null && wait "$PROM_PID" 2>/dev/null
  stop_up
  rm -rf "$WORK"
}
trap cleanup EXIT
check "prewarm up comes up with three agents connected" wait_until 60 three_nodes
stop_if_failed "$LOG"

ENDPOINTS=(127.0.0.1:9400 127.0.0.1:9430 127.0.0.1:9431 127.0.0.1:9432 127.0.0.1:9440)
check "prewarm up prints where each agent and the forecaster serve /metrics" \
  bash -c "grep -q 'fra-1 .*metrics http://127.0.0.1:9430/metrics' '$LOG' &&
           grep -q 'forecaster .*metrics http://127.0.0.1:9440/metrics' '$LOG'"
# A cold start, so that the cold-path and start-time histograms have samples.
kdig @127.0.0.1 -p 5353 +short static.edge.example A >/dev/null
has_start() { curl -s http://127.0.0.1:9430/metrics | grep -q '^prewarm_agent_instance_start_seconds_count{.*} [1-9]'; }
check "the agent's start-time histogram counts the cold-path instance" wait_until 30 has_start

for ep in "${ENDPOINTS[@]}"; do
  curl -s "http://$ep/metrics" >"$WORK/metrics-${ep##*:}.txt"
  check "promtool check metrics accepts http://$ep/metrics" \
    bash -c "promtool check metrics < '$WORK/metrics-${ep##*:}.txt'"
done

# --- Every prewarm_* name of the dashboard and the rules is exported.
cat "$WORK"/metrics-*.txt | awk '$1 == "#" && $2 == "TYPE" {print $3, $4}' | sort -u >"$WORK/exported"
check "a scrape lists the families of all three daemons" bash -c "
  grep -q '^prewarm_dns_answer_duration_seconds histogram' '$WORK/exported' &&
  grep -q '^prewarm_cold_path_duration_seconds histogram' '$WORK/exported' &&
  grep -q '^prewarm_agent_instance_start_seconds histogram' '$WORK/exported' &&
  grep -q '^prewarm_forecaster_refit_duration_seconds histogram' '$WORK/exported'"
UNKNOWN=$(python3 - "$WORK/exported" "$DEPLOY/grafana/prewarm.json" "$DEPLOY/prometheus/alerts.yml" <<'PY'
import re, sys
exported = dict(line.split() for line in open(sys.argv[1]))
names = set()
for path in sys.argv[2:]:
    names |= set(re.findall(r"\bprewarm_[a-z0-9_]*[a-z0-9]", open(path).read()))
def known(n):
    if n in exported:
        return True
    base = re.sub(r"_(bucket|sum|count)$", "", n)
    return exported.get(base) == "histogram"
print(" ".join(sorted(n for n in names if not known(n))))
print(len(names), file=sys.stderr)
PY
)
check "every prewarm_* name in deploy/grafana/prewarm.json and alerts.yml is exported${UNKNOWN:+ (not: $UNKNOWN)}" \
  test -z "$UNKNOWN"

# --- Prometheus itself: the shipped scrape config (every second here) and rules.
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sed -e 's/scrape_interval: 15s/scrape_interval: 1s/' -e "s|  - alerts.yml|  - $DEPLOY/prometheus/alerts.yml|" \
  "$DEPLOY/prometheus/prometheus.yml" >"$WORK/prometheus.yml"
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/data" \
  --web.listen-address="127.0.0.1:$PORT" >"$WORK/prometheus.log" 2>&1 &
PROM_PID=$!
API="http://127.0.0.1:$PORT/api/v1"
# build_info JOB N: Prometheus has N prewarm_build_info series of JOB, each 1 with a version.
build_info() {
  curl -sf "$API/query?query=prewarm_build_info" | python3 -c '
import json, sys
job, want = sys.argv[1], int(sys.argv[2])
r = json.load(sys.stdin)["data"]["result"]
got = [s for s in r if s["metric"].get("job") == job and s["value"][1] == "1" and s["metric"].get("version")]
sys.exit(0 if len(got) == want else 1)' "$1" "$2"
}
check "Prometheus scraped prewarm_build_info from the orchestrator" wait_until 60 build_info prewarm-orchestrator 1
check "... from each of the three agents" wait_until 30 build_info prewarm-agent 3
check "... and from the forecaster" wait_until 30 build_info prewarm-forecaster 1
targets_up() {
  curl -sf "$API/query?query=up" | python3 -c '
import json, sys
r = json.load(sys.stdin)["data"]["result"]
sys.exit(0 if len(r) == 5 and all(s["value"][1] == "1" for s in r) else 1)'
}
check "all five targets are up" wait_until 30 targets_up
start_hist() {
  curl -sf "$API/query?query=sum(prewarm_agent_instance_start_seconds_count)" |
    python3 -c 'import json, sys; r = json.load(sys.stdin)["data"]["result"]; sys.exit(0 if r and float(r[0]["value"][1]) >= 1 else 1)'
}
check "the start-time histogram is queryable in Prometheus" wait_until 30 start_hist
rules_ok() {
  curl -sf "$API/rules" | python3 -c '
import json, sys
groups = json.load(sys.stdin)["data"]["groups"]
rules = [r for g in groups for r in g["rules"]]
sys.exit(0 if len(rules) >= 10 and all(r["health"] == "ok" for r in rules) else 1)'
}
check "Prometheus loaded the alert rules and evaluates them without error" wait_until 30 rules_ok
((FAILED > 0)) && tail -20 "$WORK/prometheus.log"
finish
