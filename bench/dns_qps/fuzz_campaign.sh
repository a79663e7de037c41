#!/usr/bin/env bash
# A long fuzz campaign over both DNS fuzz targets (tools/run-fuzz builds them): dns_fuzz
# (codec + zone) and dns_answer_fuzz (the whole answer path over the orchestrator's
# resolver), side by side, one core each, each bounded by a number of inputs and both by
# a wall time. Prints per target the inputs executed, exec/s, coverage (libFuzzer's cov
# and ft), corpus growth, peak RSS and crashes, and exits non-zero on a crash.
#   bench/dns_qps/fuzz_campaign.sh [--codec-inputs N] [--answer-inputs N] [--max-seconds S]
#                                  [--report-only]
# Defaults: 9,000,000 + 1,000,000 inputs (10^7 in all; the answer target runs about a
# tenth as many inputs a second: each is a snapshot and up to 8 x 16 queries answered
# twice), at most 3,600 s. Runs under
# `nice -n 15`; the corpora grow in build/fuzz-campaign (FUZZ_OUT), seeded from fuzz/corpus.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CODEC=9000000
ANSWER=1000000
MAX_SECONDS=3600
REPORT_ONLY=0
while (($#)); do
  case "$1" in
    --codec-inputs) CODEC="${2:?}"; shift 2 ;;
    --answer-inputs) ANSWER="${2:?}"; shift 2 ;;
    --max-seconds) MAX_SECONDS="${2:?}"; shift 2 ;;
    --report-only) REPORT_ONLY=1; shift ;;  # print the last campaign's figures again
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "fuzz_campaign.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
for v in "$CODEC" "$ANSWER" "$MAX_SECONDS"; do
  [[ "$v" =~ ^[0-9]+$ ]] && ((v > 0)) || { echo "fuzz_campaign.sh: want numbers > 0" >&2; exit 2; }
done
export FUZZ_OUT="${FUZZ_OUT:-$ROOT/build/fuzz-campaign}"
mkdir -p "$FUZZ_OUT"
start=$(date +%s)
rc=0
if ((!REPORT_ONLY)); then
  # Each target alone (-runs differs), both at once: one core each.
  FUZZ_RUNS="$CODEC" nice -n 15 "$ROOT/tools/run-fuzz" "$MAX_SECONDS" --only dns_fuzz \
    >"$FUZZ_OUT/campaign-dns_fuzz.txt" 2>&1 &
  codec_pid=$!
  FUZZ_RUNS="$ANSWER" nice -n 15 "$ROOT/tools/run-fuzz" "$MAX_SECONDS" --only dns_answer_fuzz \
    >"$FUZZ_OUT/campaign-dns_answer_fuzz.txt" 2>&1 &
  answer_pid=$!
  wait "$codec_pid" || rc=1
  wait "$answer_pid" || rc=1
fi
took=$(($(date +%s) - start))

if ((REPORT_ONLY)); then
  echo "== DNS fuzz campaign in $FUZZ_OUT (logs of $(date -u -r "$FUZZ_OUT/dns_fuzz.log" +%FT%TZ 2>/dev/null || echo '?'))"
else
  echo "== DNS fuzz campaign, $(date -u +%FT%TZ), commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), ${took}s wall"
fi
total=0
for t in dns_fuzz dns_answer_fuzz; do
  log="$FUZZ_OUT/$t.log"
  [[ -f "$log" ]] || { echo "$t: no log ($FUZZ_OUT/campaign-$t.txt:)"; tail -20 "$FUZZ_OUT/campaign-$t.txt"; rc=1; continue; }
  stat() { awk -v k="stat::$1:" '$1 == k { print $2 }' "$log"; }
  runs=$(stat number_of_executed_units)
  total=$((total + ${runs:-0}))
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  cov=$(sed -n 's/.* cov: \([0-9]*\) ft: \([0-9]*\) corp: \([0-9]*\/[0-9a-zA-Z]*\).*/cov \1, ft \2, corpus \3/p' <<<"$last")
  crashes=$(find "$FUZZ_OUT" -maxdepth 1 -name "$t-*" -type f | wc -l)
  printf '%-16s inputs %s  exec/s %s  %s  new units %s  peak RSS %s MB  crash/leak/timeout files %s\n' \
    "$t" "${runs:-?}" "$(stat average_exec_per_sec)" "${cov:-?}" "$(stat new_units_added)" \
    "$(stat peak_rss_mb)" "$crashes"
  if ((crashes > 0)); then
    find "$FUZZ_OUT" -maxdepth 1 -name "$t-*" -type f
    grep -m3 -E 'ERROR|invariant|runtime error' "$log" || true
  fi
done
echo "total inputs: $total"
exit "$rc"
