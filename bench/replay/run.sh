#!/usr/bin/env bash
# The live replay beside the simulator (issue 16): a slice of the Azure 200 sample replayed
# against `prewarm up` (runc, 3 agents in 3 regions) under each policy, one run each, and
# `prewarm sim` on the same slice, seed and --speed, side by side, with the gap between them.
#
#   bench/replay/run.sh [--quick] [--policies P,Q] [--hours H] [--from-step S] [--busiest N]
#                       [--sparse N] [--speed X] [--seed N] [--slots N] [--concurrency N]
#                       [--scrape-s S] [--warmup-min M] [--policy-clock trace|wall]
#                       [--out DIR]
#
# Defaults (the issue's): 6 h from minute 480 (08:00), the 50 busiest and 50 sparse
# functions, 60x (about 6 wall minutes per policy), seed 1, 64 instance slots per node,
# 10 requests at once per instance (the live services' default) on both sides.
# --quick: 1 h of 20 + 20 functions (about 1 wall minute per policy), a smoke run.
# --warmup-min 15: the first 15 trace minutes are replayed (and simulated) but not measured
# on either side, so the opening burst, when every busy function starts at once and no
# policy has history, is not what the figures measure. 0 measures everything.
# --policy-clock trace (the default): every policy runs on the replay's clock, its durations
# (keep-alives, windows, histogram bins and ranges, cold-start prices, timer periods: the
# autoscaler's `time_scale`) and the forecaster's horizon and refit divided by the speed (and
# its sparse-key threshold, min_arrivals_per_min, multiplied by it), so
# that a 10-minute keep-alive is 10 trace minutes; both sides alike. `wall`: the settings as
# written, in wall time (a 10-minute keep-alive is 100 trace minutes at 10x), as before.
# PREWARM=path/to/prewarm runs that binary (and the prewarm-httpd beside it) in place;
# otherwise build/release/bin is copied to a private temp dir first, so a rebuild does not
# disturb a run. Root, runc and loopback (127.0.0.0/8) only. Results: DIR/*.json and
# DIR/table.txt (DIR: a temp dir, kept and printed, unless --out).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

POLICIES=predictive,reactive-kpa,fixed-keepalive,hybrid-histogram
HOURS=6 FROM=480 BUSIEST=50 SPARSE=50 SPEED=60 SEED=1 SLOTS=64 SCRAPE_S=2 WARMUP_MIN=15 OUT=""
POLICY_CLOCK=trace
TRACE=${TRACE:-$ROOT/../shared/data/traces/azure2019/200_inv.csv}
SERVICE_MS=1   # the live workload's answer to a GET under compression (--speed-service-ms)
MEMORY_MB=32   # every live instance's memory: the static template's limit (--speed-memory-mb)
# Requests at once per instance, on both sides: the live services' default (`concurrency`
# in up.yaml), not the Azure split's 1. The simulator routes no more than this to one
# instance, while live DNS answers with a ready or starting instance whatever its load; at 1
# the simulator starts a new instance for each request that comes during a start, which
# live never does (bench/replay/README.md).
CONCURRENCY=10
usage() { sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-2}"; }
while (($#)); do
  case $1 in
    --quick) HOURS=1 BUSIEST=20 SPARSE=20 ;;
    --policies) POLICIES=${2:?}; shift ;;
    --hours) HOURS=${2:?}; shift ;;
    --from-step) FROM=${2:?}; shift ;;
    --busiest) BUSIEST=${2:?}; shift ;;
    --sparse) SPARSE=${2:?}; shift ;;
    --speed) SPEED=${2:?}; shift ;;
    --seed) SEED=${2:?}; shift ;;
    --slots) SLOTS=${2:?}; shift ;;
    --concurrency) CONCURRENCY=${2:?}; shift ;;
    --scrape-s) SCRAPE_S=${2:?}; shift ;;
    --warmup-min) WARMUP_MIN=${2:?}; shift ;;
    --policy-clock) POLICY_CLOCK=${2:?}; shift ;;
    --out) OUT=${2:?}; shift ;;
    -h | --help) usage 0 ;;
    *) echo "run.sh: unknown argument '$1'" >&2; usage ;;
  esac
  shift
done
for n in "$HOURS" "$FROM" "$BUSIEST" "$SPARSE" "$SEED" "$SLOTS" "$CONCURRENCY" "$SCRAPE_S" "$WARMUP_MIN"; do
  [[ $n =~ ^[0-9]+$ ]] || { echo "run.sh: '$n' is not a whole number" >&2; exit 2; }
done
[[ $SPEED =~ ^[0-9]+([.][0-9]+)?$ ]] || { echo "run.sh: --speed '$SPEED' is not a number" >&2; exit 2; }
[[ $POLICY_CLOCK == trace || $POLICY_CLOCK == wall ]] ||
  { echo "run.sh: --policy-clock '$POLICY_CLOCK' is not trace or wall" >&2; exit 2; }
# The policies' time scale and the forecaster's horizon and refit (its defaults, 60 s and
# 3600 s, on the policy's clock).
if [[ $POLICY_CLOCK == trace ]]; then TIME_SCALE=$SPEED; else TIME_SCALE=1; fi
HORIZON_S=$(python3 -c "print(max(1, round(60 / $TIME_SCALE)))")
REFIT_S=$(python3 -c "print(max(1, round(3600 / $TIME_SCALE)))")
# The daemon's 1 arrival a minute, on the policy's clock.
MIN_RATE=$(python3 -c "print(1 * $TIME_SCALE)")
((EUID == 0)) || { echo "run.sh: needs root (runc)" >&2; exit 2; }
for tool in runc curl python3; do
  command -v "$tool" >/dev/null || { echo "run.sh: needs $tool" >&2; exit 2; }
done
[[ -r $TRACE ]] || { echo "run.sh: cannot read the trace $TRACE (set TRACE=)" >&2; exit 2; }

TMP=$(mktemp -d /tmp/prewarm-replay-bench.XXXXXX)
[[ -n $OUT ]] || OUT=$TMP/out
mkdir -p "$OUT"
if [[ -z ${PREWARM:-} ]]; then
  [[ -x $ROOT/build/release/bin/prewarm ]] || { echo "run.sh: build first (tools/build)" >&2; exit 2; }
  mkdir -p "$TMP/bin" && cp -a "$ROOT/build/release/bin/." "$TMP/bin/"
  PREWARM=$TMP/bin/prewarm
fi
NODES=(usw-1 use-1 euw-1)
UP_PID=""

# Stops `prewarm up` (if it still runs) as Ctrl-C does and waits (bounded) until it and its
# containers are gone.
stop_up() {
  local i
  if [[ -n $UP_PID ]]; then
    kill -INT "$UP_PID" 2>/dev/null
    for ((i = 0; i < 600; i++)); do kill -0 "$UP_PID" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$UP_PID" 2>/dev/null; then
      echo "run.sh: prewarm up did not stop in 60 s; sending SIGTERM" >&2
      kill -TERM "$UP_PID" 2>/dev/null
      sleep 5
    fi
    wait "$UP_PID" 2>/dev/null
    UP_PID=""
  fi
  for ((i = 0; i < 300; i++)); do containers_gone && return 0; sleep 0.1; done
  # prewarm up did not remove them (it crashed): remove this run's own containers, so the
  # next policy starts clean.
  local n c
  for n in "${NODES[@]}"; do
    for c in $(runc --root "/run/prewarm/$n/runc" list -q 2>/dev/null); do
      echo "run.sh: removing container $c left on $n" >&2
      runc --root "/run/prewarm/$n/runc" delete -f "$c" >/dev/null 2>&1
    done
  done
  containers_gone
}
containers_gone() {
  local n
  for n in "${NODES[@]}"; do
    [[ -z $(runc --root "/run/prewarm/$n/runc" list -q 2>/dev/null) ]] || return 1
  done
}
cleanup() {
  trap - EXIT INT TERM
  stop_up
  rm -rf "$TMP/bin" "$TMP"/*.yaml
  echo "run.sh: results in $OUT"
}
trap cleanup EXIT
trap 'echo "run.sh: interrupted" >&2; exit 130' INT TERM

STEPS=$((HOURS * 60))
SLICE=(--trace "$TRACE" --regions 3 --seed "$SEED" --from-step "$FROM" --steps "$STEPS"
  --busiest "$BUSIEST" --sparse "$SPARSE" --speed "$SPEED" --speed-service-ms "$SERVICE_MS"
  --speed-memory-mb "$MEMORY_MB" --speed-concurrency "$CONCURRENCY")
# The trace's three regions (--regions 3) and the client subnet each one's queries carry;
# the up config declares the same regions at the simulator's coordinates (sim::RegionPoint).
ECS=(--ecs us-west=192.0.2.0/24 --ecs us-east=198.51.100.0/24 --ecs eu-west=203.0.113.0/24)
WALL_S=$(python3 -c "print(round($STEPS * 60 / $SPEED))")

"$PREWARM" up --print-config >"$TMP/default.yaml" || exit 1
"$PREWARM" replay "${SLICE[@]}" --print-services >"$TMP/services.yaml" || exit 1

# up config for one policy: the embedded default with the slice's services (each its own
# template, so that each function is one key as in the simulator), 3 agents in the trace's
# regions with SLOTS slots each and 16 standby sockets (the cold path answers only with a
# standby address; with the default 2, a burst of cold starts at one node spills to the
# origin, which the simulator, with no such limit, never does), the forecaster at the
# trace's resolution (one trace step per forecaster step), and `autoscaler: {policy: P}`.
write_config() {
  python3 - "$TMP/default.yaml" "$TMP/services.yaml" "$1" "$SLOTS" "$SPEED" "$TIME_SCALE" \
    "$HORIZON_S" "$REFIT_S" "$MIN_RATE" >"$2" <<'PY'
import sys, yaml
default, services, policy, slots, speed, time_scale, horizon_s, refit_s, min_rate = sys.argv[1:10]
c = yaml.safe_load(open(default))
svc = yaml.safe_load(open(services))["services"]
# Addresses of its own (127.0.9.1 for the daemons and their /metrics, 127.79.0.0/16 for the origin's fallback
# and the instances), so that a run never meets the test suite's `prewarm up`
# (127.0.0.1, 127.77.0.0/16) on the same machine.
regions = [("us-west", 37.4, -122.1, "192.0.2.0/24", "usw-1", "127.79.1.0/24"),
           ("us-east", 38.9, -77.4, "198.51.100.0/24", "use-1", "127.79.2.0/24"),
           ("eu-west", 48.9, 2.35, "203.0.113.0/24", "euw-1", "127.79.3.0/24")]
c["origin_server"]["listen"] = "127.0.9.1:8400"
c["origin_server"]["fallback"] = "127.79.0.1:80"
o = c["orchestrator"]
o["dns"]["listen"] = "127.0.9.1:5353"
o["grpc"]["listen"] = "127.0.9.1:7400"
o["http"]["listen"] = "127.0.9.1:9400"
o["origin"]["addresses"] = ["127.79.0.1"]
c["forecaster"]["orchestrator"] = "127.0.9.1:7400"
c["forecaster"]["http"] = {"listen": "127.0.9.1:9440"}
o["services"] = [{"name": s["name"], "template": s["name"], "concurrency": s["concurrency"],
                  "service_time_s": s["service_time_s"]} for s in svc]
o["regions"] = [{"name": r, "latitude": la, "longitude": lo} for r, la, lo, *_ in regions]
o["networks"] = [{"cidr": cidr, "region": r} for r, _, _, cidr, *_ in regions]
o["networks"].append({"cidr": "127.0.0.0/8", "region": "us-west"})
o["default_region"] = "us-west"
o["autoscaler"] = {"policy": policy, "time_scale": float(time_scale)}
o.pop("keepalive_s", None)  # a keep-alive given at the top level overrides every preset's
f = c["forecaster"]
f["step_s"] = max(1, round(60 / float(speed)))   # one trace minute
f["horizon_s"] = int(horizon_s)
f["refit_every_s"] = int(refit_s)
f["min_arrivals_per_min"] = float(min_rate)
f.pop("templates", None)                          # per-template defaults: concurrency 1
a = c["agent_defaults"]
a["orchestrator"] = "127.0.9.1:7400"
a["origin"] = "http://127.0.9.1:8400"
# The replay's templates are copies of the shipped static one, defined per daemon as before
# (services with the trace's concurrency and service time; the forecaster's defaults).
SERVING = ("tier", "service_time_s", "concurrency", "keepalive_s", "start_time_s")
static = {k: v for k, v in next(t for t in c.pop("templates") if t["name"] == "static").items()
          if k not in SERVING}
a["capacity"] = {"slots": int(slots), "memory": f"{int(slots) * 32 + 512}MiB"}
a["templates"] = [dict(static, name=s["name"]) for s in svc]
c["agents"] = [{"node": {"id": node, "region": r, "latitude": la, "longitude": lo},
                "addresses": {"range": rng, "port": 80, "standby": 16},
                "http": {"listen": f"127.0.9.1:{9430 + i}"}}
               for i, (r, la, lo, _, node, rng) in enumerate(regions)]
print(yaml.safe_dump(c, sort_keys=False, width=200))
PY
}

# live POLICY: one replay against `prewarm up` under POLICY; 1 when the binary refuses it.
live() {
  local p=$1 cfg=$TMP/up-$1.yaml log=$OUT/up-$1.log
  write_config "$p" "$cfg" || return 1
  "$PREWARM" up --config "$cfg" >"$log" 2>&1 &
  UP_PID=$!
  local i ok=0
  for ((i = 0; i < 600; i++)); do
    if curl -sf http://127.0.9.1:9400/healthz 2>/dev/null | grep -q "nodes=3"; then ok=1; break; fi
    kill -0 "$UP_PID" 2>/dev/null || break
    sleep 0.2
  done
  if ((ok == 0)); then
    echo "run.sh: prewarm up ($p) did not come up with 3 nodes; its log's end:" >&2
    tail -5 "$log" | sed 's/^/    /' >&2
    if ! kill -0 "$UP_PID" 2>/dev/null && grep -q "policy" "$log"; then
      echo "run.sh: this prewarm refuses policy '$p': $(grep -m1 policy "$log")" >&2
    fi
    stop_up
    return 1
  fi
  echo "live $p: replaying ${STEPS} trace minutes at ${SPEED}x (~${WALL_S} s)" >&2
  "$PREWARM" replay "${SLICE[@]}" --target 127.0.9.1:5353 --port 80 "${ECS[@]}" \
    --metrics http://127.0.9.1:9400/metrics --scrape-s "$SCRAPE_S" --max-seconds $((WALL_S + 120)) \
    --warmup "${WARMUP_MIN}m" \
    --json "$OUT/live-$p.json" --svg "$OUT/live-$p.svg" >"$OUT/live-$p.txt" 2>"$OUT/live-$p.err"
  local rc=$?
  sed 's/^/    /' "$OUT/live-$p.txt" >&2
  if ! kill -0 "$UP_PID" 2>/dev/null; then
    wait "$UP_PID" 2>/dev/null
    echo "prewarm up exited (status $?) during the replay; see up-$p.log" | tee "$OUT/crashed-$p.txt" >&2
    UP_PID=""
  fi
  stop_up || echo "run.sh: containers are left after $p" >&2
  return $rc
}

# Start times the agents logged in the last live run of POLICY ("ready in N ms": create to
# ready), as "MEDIAN_S,P99_S"; empty when none.
live_starts() {
  grep -o 'ready in [0-9]* ms' "$OUT/up-$1.log" 2>/dev/null | awk '{print $3}' | sort -n |
    awk '{v[NR] = $1} END {if (NR) printf "%.4f,%.4f", v[int((NR + 1) / 2)] / 1000, v[int(NR * 0.99 + 0.999)] / 1000}'
}

# sim POLICY RUNTIME FILE [CONTENTION]: `prewarm sim` on the same slice, speed and seed, with the live
# settings the simulator cannot read from the up config: the control loop's 1 s pass for
# the reconciler's policies, the DNS path's routing (--routing live), the orchestrator's
# implementation of the hybrid histogram (engine=orchestrator), and (predictive) the live
# forecaster's horizon, refit and sparse-key threshold on the policy's clock (its model and
# quantile are the simulator's defaults: the daemon's).
sim() {
  local p=$1 params=(--routing live --param "time_scale=$TIME_SCALE")
  [[ -n ${4:-} ]] && params+=(--start-contention "$4")
  case $p in predictive | reactive-kpa | fixed-keepalive) params+=(--param tick=1s) ;; esac
  [[ $p == hybrid-histogram ]] && params+=(--param tick=1s --param engine=orchestrator)
  if [[ $p == predictive ]]; then
    params+=(--param "horizon_s=$HORIZON_S" --param "refit_every_s=$REFIT_S"
      --param "min_arrivals_per_min=$MIN_RATE")
  fi
  # The simulator's clock is the replay's wall clock (compressed): the same warm-up there.
  "$PREWARM" sim "${SLICE[@]}" --runtime "$2" --nodes 3 --slots "$SLOTS" --policy "$p" \
    --warmup "$(python3 -c "print(round($WARMUP_MIN * 60000 / $SPEED))")ms" \
    "${params[@]}" --no-normalise --json >"$3" 2>"$3.err" || {
    echo "run.sh: sim $p ($2) failed: $(tail -1 "$3.err")" >&2
    rm -f "$3"
  }
}

IFS=, read -r -a PLIST <<<"$POLICIES"
echo "slice: $HOURS h from minute $FROM, $BUSIEST busiest + $SPARSE sparse functions, ${SPEED}x, seed $SEED; $SLOTS slots x 3 nodes; first $WARMUP_MIN trace minutes not measured; policies on the $POLICY_CLOCK clock (time_scale $TIME_SCALE)" >&2
for p in "${PLIST[@]}"; do
  if ! live "$p"; then echo "run.sh: live $p failed or was refused; continuing" >&2; fi
  # The simulator twice: with runc's start times measured alone (bench/instance_start)
  # slowed by concurrent starts sharing this machine's cores (every agent runs here:
  # --start-contention host:CORES), and with the start times the agents logged in this
  # policy's live run, under its load, drawn independently per start.
  sim "$p" oci "$OUT/sim-$p.json" "host:$(nproc)"
  starts=$(live_starts "$p")
  if [[ -n $starts ]]; then
    echo "$starts" >"$OUT/starts-$p.txt"
    sim "$p" "measured:$starts" "$OUT/simlive-$p.json"
  fi
done
python3 "$HERE/table.py" "$OUT" "$SPEED" "${PLIST[@]}" | tee "$OUT/table.txt"
