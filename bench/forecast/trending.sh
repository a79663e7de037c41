#!/usr/bin/env bash
# Trending content against two baselines (issue 17): replays the real per-URL access log
# ../shared/data/traces/apache_logs/access_log in time order through
# `prewarm forecast trending` (the ranking the forecaster daemon runs, forecast/trending.h)
# and prints, per list size K, the preload hit ratio of the trending ranking, of a static
# list (the top-K of the first day) and of the previous hour's most popular, the ratios
# trending/static and trending/previous, and the bytes preloaded per hit of each.
#
#   bench/forecast/trending.sh [--log FILE] [--k 5,10,20,50,100] [--refresh 10m]
#                              [--scratch 64MiB] [--train 1d] [--previous 1h]
#
# PREWARM=path overrides build/release/bin/prewarm. The protocol is in README.md
# ("Trending content").
set -euo pipefail
cd "$(dirname "$0")/../.."

PREWARM=${PREWARM:-build/release/bin/prewarm}
LOG=../shared/data/traces/apache_logs/access_log
ARGS=()
while (($#)); do
  case "$1" in
    --log) LOG=$2; shift 2 ;;
    --k|--refresh|--scratch|--train|--previous) ARGS+=("$1" "$2"); shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "trending.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

if [[ ! -x $PREWARM ]]; then
  echo "trending.sh: $PREWARM not built (ninja -C build/release prewarm)" >&2
  exit 1
fi
if [[ ! -r $LOG ]]; then
  echo "trending.sh: no access log at $LOG" >&2
  exit 1
fi
exec "$PREWARM" forecast trending --log "$LOG" "${ARGS[@]}"
