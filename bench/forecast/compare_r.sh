#!/usr/bin/env bash
# Side-by-side rolling-origin backtest: R's forecast/prophet (tools/r/backtest.R) against
# `prewarm forecast backtest`, on the series of bench/forecast/series.yaml.
#
#   bench/forecast/compare_r.sh [--series a,b] [--quick] [--fresh] [--jobs N] [--spec FILE]
#
#   --series  comma-separated names from the spec (default: all of them)
#   --quick   5 origins per series and no auto.arima (CI-sized); prewarm gets --origins 5
#   --fresh   ignore the cached R results and refit
#   --jobs    parallel R workers (default 2)
#
# R results are cached under build/forecast-bench/r/, keyed by a hash of the spec, the R
# script and the mode, so reruns only refit what changed. The prewarm side always runs
# (it is fast); PREWARM=path overrides build/release/bin/prewarm. Installs R, forecast,
# prophet and yaml from Debian packages when they are missing (root needed then).
set -euo pipefail
cd "$(dirname "$0")/../.."

SPEC=bench/forecast/series.yaml
SERIES=""
QUICK=0
FRESH=0
JOBS=2
PREWARM=${PREWARM:-build/release/bin/prewarm}
OUT=build/forecast-bench

while (($#)); do
  case "$1" in
    --series) SERIES=$2; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --fresh) FRESH=1; shift ;;
    --jobs) JOBS=$2; shift 2 ;;
    --spec) SPEC=$2; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "compare_r.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

ensure_tools() {
  local need=()
  if ! command -v Rscript >/dev/null 2>&1 ||
     ! Rscript -e 'suppressMessages({library(forecast); library(prophet); library(yaml)})' >/dev/null 2>&1; then
    need+=(r-base-core r-cran-forecast r-cran-prophet r-cran-yaml)
  fi
  command -v python3 >/dev/null 2>&1 || need+=(python3)
  ((${#need[@]} == 0)) && return 0
  if [[ $(id -u) -ne 0 ]]; then
    echo "compare_r.sh: missing ${need[*]}; run as root to install them" >&2
    exit 1
  fi
  echo "compare_r.sh: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}"
}
ensure_tools

if [[ -z $SERIES ]]; then
  SERIES=$(sed -n 's/^  - name: *\([A-Za-z0-9_.-]*\).*/\1/p' "$SPEC" | paste -sd, -)
fi

mkdir -p "$OUT/r" "$OUT/prewarm"
mode=full
((QUICK)) && mode=quick

# Is `prewarm forecast backtest` there?
prewarm_ok=1
prewarm_why=""
if [[ ! -x $PREWARM ]]; then
  prewarm_ok=0; prewarm_why="no binary at $PREWARM"
elif ! "$PREWARM" forecast backtest --help 2>&1 | grep -q -- '--spec'; then
  prewarm_ok=0; prewarm_why="$PREWARM has no 'forecast backtest --spec' subcommand"
fi

IFS=, read -r -a names <<<"$SERIES"
for s in "${names[@]}"; do
  key=$( { cat "$SPEC" tools/r/backtest.R; echo "$s $mode"; } | sha256sum | cut -c1-16)
  rjson="$OUT/r/$s.$mode.$key.json"
  if ((FRESH)) || [[ ! -s $rjson ]]; then
    rargs=(--series "$s" --spec "$SPEC" --out "$rjson.tmp" --jobs "$JOBS"
           --detail "$OUT/r/$s.$mode.$key.origins.csv")
    ((QUICK)) && rargs+=(--quick)
    echo "== R backtest of $s ($mode) ..." >&2
    if ! Rscript tools/r/backtest.R "${rargs[@]}" 2> >(grep -v -e 'was not checked for suspicious' \
         -e timedatectl -e 'Failed to connect to bus' -e 'not been booted with systemd' >&2); then
      echo "compare_r.sh: R backtest of $s failed" >&2
      continue
    fi
    mv "$rjson.tmp" "$rjson"
  fi
  pjson=""
  why=""
  if ((prewarm_ok)); then
    pjson="$OUT/prewarm/$s.$mode.json"
    pargs=(forecast backtest --spec "$SPEC" --series "$s" --json --out "$pjson")
    ((QUICK)) && pargs+=(--origins 5)
    if ! "$PREWARM" "${pargs[@]}" >"$OUT/prewarm/$s.$mode.log" 2>&1 || [[ ! -s $pjson ]]; then
      echo "compare_r.sh: prewarm backtest of $s failed (see $OUT/prewarm/$s.$mode.log)" >&2
      pjson=""
      why="prewarm forecast backtest failed on $s"
    fi
  fi
  python3 bench/forecast/compare.py "$rjson" "${pjson:-}" "${prewarm_why:-${why:-}}"
done
