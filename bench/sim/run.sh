#!/usr/bin/env bash
# Trade-off curves of the pre-warming policies on real traces, side by side in one run:
# prewarm's predictive policy against fixed keep-alive, Knative's KPA, the ATC'20 hybrid
# histogram and the oracle. Each policy is swept over its knob; every curve is read at
# the hybrid histogram's wasted-memory budget and the ratios are printed.
#
#   bench/sim/run.sh [--quick]        (--quick: WorldCup98 over 2 days instead of 4)
#
# Prints where predictive's curves (75th-percentile and overall cold-start rate) lie above
# fixed keep-alive's and KPA's (bench/sim/below.py), also with predictive.weight=start.
# First prints the baselines in the minute model beside the reference simulator's figures
# (bench/sim/reference.py).
# Writes build/sim-bench/{azure200,wc98}{,-start}.csv and {azure200,wc98}.{svg,json}.
# PREWARM=path overrides the binary.
set -euo pipefail
cd "$(dirname "$0")/../.."
PREWARM=${PREWARM:-build/release/bin/prewarm}
TRACES=${TRACES:-../shared/data/traces}
OUT=build/sim-bench
DAYS=4
[[ "${1:-}" == "--quick" ]] && DAYS=2
mkdir -p "$OUT"
POLICIES=fixed-keepalive,reactive-kpa,hybrid-histogram,oracle,predictive

run() {  # name, then prewarm sim arguments
  local name=$1; shift
  echo "== $name"
  "$PREWARM" sim "$@" --policy "$POLICIES" --sweep --plot "$OUT/$name.svg" --csv "$OUT/$name.csv" \
    --json >"$OUT/$name.json"
  python3 - "$OUT/$name.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
b = d["budget"]
print(f"budget: hybrid-histogram's wasted memory = {b['wasted_norm']:.3f} x fixed 10-min keep-alive")
at = {a["policy"]: a for a in b["at_budget"]}
h = at["hybrid-histogram"]
print(f"{'policy':18} {'p75 cold%':>10} {'cold%':>8} {'p75 / hybrid':>13} {'cold / hybrid':>14}")
for p, a in at.items():
    if a["cold_rate_p75"] is None:
        lo, hi = a["wasted_norm_span"]
        print(f"{p:18} {'-':>10} {'-':>8}   (curve spans {lo:.2f}..{hi:.2f}x, not the budget)")
        continue
    r75 = a["cold_rate_p75"] / h["cold_rate_p75"] if h["cold_rate_p75"] else float("nan")
    rc = a["cold_rate"] / h["cold_rate"] if h["cold_rate"] else float("nan")
    print(f"{p:18} {100*a['cold_rate_p75']:10.3f} {100*a['cold_rate']:8.3f} {r75:13.2f} {rc:14.2f}")
PY
  python3 bench/sim/below.py "$OUT/$name.csv"
  # The same curves with predictive pricing every cold start alike (weight=start): the
  # overall cold-start rate it trades for the per-key 75th percentile above.
  echo "-- predictive with --param predictive.weight=start"
  "$PREWARM" sim "$@" --policy fixed-keepalive,reactive-kpa,predictive --param predictive.weight=start \
    --sweep --csv "$OUT/$name-start.csv" >/dev/null
  python3 bench/sim/below.py "$OUT/$name-start.csv"
}
# The baselines in the ATC'20 reference simulator's minute model, beside its figures.
echo "== reference: Azure 200 in the minute model (no warm-up), beside the reference simulator"
for m in one-instance concurrency; do
  "$PREWARM" sim --trace "$TRACES/azure2019/200_inv.csv" --minute-model "$m" \
    --policy hybrid-histogram,fixed-keepalive --param fixed-keepalive.keepalive_s=60m --json \
    >"$OUT/reference-$m.json"
done
python3 bench/sim/reference.py "$OUT/reference-one-instance.json" "$OUT/reference-concurrency.json"
run azure200 --trace "$TRACES/azure2019/200_inv.csv" --warmup 2h
run wc98 --trace "$TRACES/worldcup98/wc98_requests_per_minute.csv" --days "$DAYS" --warmup 1d
echo "curves: $OUT/*.svg, points: $OUT/*.csv"
