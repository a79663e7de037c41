#!/usr/bin/env bash
# prewarm's DNS under a flood at twice its capacity, with response rate limiting as shipped
# (the orchestrator's default dns.rrl: 100 responses/s per /24, slip 2; cookies on).
#  1. Capacity: `prewarm up` (bench/dns_qps/up-fake.yaml, RRL off) is saturated by one
#     dnsperf for --capacity-seconds; its qps is the capacity C.
#  2. Flood: `prewarm up` again, RRL as shipped. --senders processes from 127.0.0.11, .12,
#     ... (one /24) send --factor x C queries a second between them for --seconds,
#     while two legitimate clients (legit_client.py, 20 qps each, with DNS cookies as
#     `prewarm replay` sends them) ask from another /24 (127.0.2.1) and from the flooded
#     one (127.0.0.250). The process's RSS is sampled every 0.5 s from before the flood to
#     5 s after it.
# Prints the capacity, the flood's achieved send rate, RSS start/peak/end, the RRL counters
# from /metrics, each legitimate client's answered/sent, and whether prewarm survived
# (exit 1 if not). The senders are flood_send (bench/dns_qps/flood_send.cc: sendmmsg at a
# fixed rate, no per-query state, so two cores can send twice what they can answer), or
# dnsperf with --sender dnsperf (it tracks every query and its timeout, and four of them on
# this 2-core machine sent 1.65x the capacity, not 2x). Everything on 127.0.0.0/8; every
# sender bounded by time and rate. Usage: bench/dns_qps/flood.sh [--seconds N] [options].
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
FLOOD_SECONDS=30
CAP_SECONDS=10
SENDERS=4
FACTOR=2
LEGIT_QPS=20
THREADS=2
PREWARM_BIN="${PREWARM_BIN:-$ROOT/build/release/bin/prewarm}"
FLOOD_SEND="${FLOOD_SEND:-$ROOT/build/release/bench/dns_qps/flood_send}"
SENDER=flood_send
KEEP=0
PORT=5371                       # as in up-fake.yaml
METRICS_URL="http://127.0.0.1:9491/metrics"

usage() {
  cat <<EOF
usage: $0 [--seconds N] [--capacity-seconds N] [--senders N] [--factor F] [--threads N]
          [--legit-qps N] [--sender flood_send|dnsperf] [--keep] [--prewarm PATH]
  --seconds N           length of the flood (default $FLOOD_SECONDS)
  --capacity-seconds N  length of the capacity run (default $CAP_SECONDS)
  --senders N           processes flooding, from 127.0.0.11.. (default $SENDERS)
  --sender S            flood_send (default; \$FLOOD_SEND or build/release/bench/dns_qps/)
                        or dnsperf
  --factor F            flood rate as a multiple of the capacity (default $FACTOR)
  --threads N           prewarm's dns.udp_threads (default $THREADS)
  --legit-qps N         rate of each legitimate client (default $LEGIT_QPS)
  --keep                keep the temp dir (configs, logs, RSS samples)
  --prewarm PATH        prewarm binary (default \$PREWARM_BIN or build/release/bin/prewarm)
EOF
}
need_int() { [[ "$2" =~ ^[0-9]+$ ]] && (($2 > 0)) || { echo "flood.sh: $1 needs a number > 0, got '$2'" >&2; exit 2; }; }
while (($#)); do
  case "$1" in
    --seconds) need_int "$1" "${2:-}"; FLOOD_SECONDS=$2; shift 2 ;;
    --capacity-seconds) need_int "$1" "${2:-}"; CAP_SECONDS=$2; shift 2 ;;
    --senders) need_int "$1" "${2:-}"; SENDERS=$2; shift 2 ;;
    --factor) [[ "${2:-}" =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "flood.sh: --factor needs a number" >&2; exit 2; }
              FACTOR=$2; shift 2 ;;
    --threads) need_int "$1" "${2:-}"; THREADS=$2; shift 2 ;;
    --legit-qps) need_int "$1" "${2:-}"; LEGIT_QPS=$2; shift 2 ;;
    --sender) [[ "${2:-}" == flood_send || "${2:-}" == dnsperf ]] ||
                { echo "flood.sh: --sender is flood_send or dnsperf" >&2; exit 2; }
              SENDER=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --prewarm) PREWARM_BIN="${2:-}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "flood.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
((SENDERS <= 200)) || { echo "flood.sh: at most 200 senders" >&2; exit 2; }
die() { echo "flood.sh: $*" >&2; exit 1; }
[[ -x "$PREWARM_BIN" ]] || die "no prewarm binary at $PREWARM_BIN (cmake --build --preset release --target prewarm)"
for tool in dnsperf kdig curl python3 perl awk ss; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found; run tools/install-deps"
done
[[ $SENDER == dnsperf || -x "$FLOOD_SEND" ]] ||
  die "no flood_send at $FLOOD_SEND (cmake --build --preset release --target flood_send)"
perl -MMaxMind::DB::Writer::Tree -e 1 2>/dev/null || die "libmaxmind-db-writer-perl is not installed"
for p in 5371; do
  [[ -z "$(ss -Hln --udp "( sport = :$p )")" ]] || die "UDP port $p is in use (bench/dns_qps running?)"
done

WORK="$(mktemp -d /tmp/prewarm-dns-flood.XXXXXX)"
PID=""
SAMPLER=""
stop_pid() {
  local pid=$1 i
  [[ -n "$pid" ]] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  [[ -n "$SAMPLER" ]] && kill "$SAMPLER" 2>/dev/null
  stop_pid "$PID"
  if ((KEEP)); then echo "flood.sh: kept $WORK"; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The query mix of run.sh (80% the service name, 20% zone data), without ECS: the flood's
# place is its source address.
{
  for _ in $(seq 16); do echo "static.edge.example A"; done
  echo "edge.example SOA"; echo "edge.example NS"; echo "ns1.edge.example A"
  echo "nosuch.edge.example A"
} >"$WORK/queries.txt"
printf '127.0.0.0/8 DE 50.11 8.68\n198.51.100.0/24 US 38.95 -77.45\n203.0.113.0/24 SG 1.35 103.82\n' \
  >"$WORK/networks.txt"
perl "$ROOT/src/geo/testdata/write_mmdb.pl" "$WORK/networks.txt" "$WORK/geo.mmdb"

# Starts `prewarm up` with up-fake.yaml; $1: "off" (RRL off, as run.sh) or "shipped" (the
# default dns.rrl). Waits until it answers static.edge.example from a READY instance.
start() {
  local dir="$WORK/$1"
  mkdir -p "$dir"
  local rrl_edit=()
  [[ "$1" == shipped ]] && rrl_edit=(-e '/rrl: {responses_per_s: 0}/d')
  sed -e "s|@BENCH_DIR@|$dir|g" -e "s|@THREADS@|$THREADS|g" -e "s|@PRECOMPUTED@|true|g" \
    -e "s|@MMDB@|$WORK/geo.mmdb|g" "${rrl_edit[@]}" "$HERE/up-fake.yaml" >"$dir/up.yaml"
  "$PREWARM_BIN" up --config "$dir/up.yaml" >"$dir/log" 2>&1 &
  PID=$!
  local i
  for ((i = 0; i < 150; i++)); do
    kill -0 "$PID" 2>/dev/null || { tail -20 "$dir/log" >&2; die "prewarm up exited"; }
    [[ "$(kdig @127.0.0.1 -p $PORT +time=1 +retry=0 +noall +answer static.edge.example A 2>/dev/null |
      awk '$4 == "A" { print $2; exit }')" == 30 ]] && return 0
    sleep 0.2
  done
  tail -20 "$dir/log" >&2
  die "prewarm did not answer from a READY instance within 30 s"
}
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
metric() { awk -v k="$2" '$1 == k { print $2; f = 1 } END { if (!f) print 0 }' "$1"; }

# ---- 1. capacity ----------------------------------------------------------------------
echo "flood.sh: capacity: prewarm up (RRL off, $THREADS UDP threads), dnsperf -c 8 -T 2 -q 100 for ${CAP_SECONDS}s" >&2
start off
dnsperf -s 127.0.0.1 -p $PORT -d "$WORK/queries.txt" -l "$CAP_SECONDS" -c 8 -T 2 -q 100 \
  >"$WORK/capacity.txt" 2>&1 || true
CAPACITY="$(awk '/Queries per second:/ { printf "%d", $4 }' "$WORK/capacity.txt")"
[[ -n "$CAPACITY" && "$CAPACITY" -gt 0 ]] || { cat "$WORK/capacity.txt" >&2; die "no capacity figure"; }
stop_pid "$PID"
PID=""
TARGET="$(awk -v c="$CAPACITY" -v f="$FACTOR" 'BEGIN { printf "%d", c * f }')"
PER_SENDER=$((TARGET / SENDERS + 1))
echo "flood.sh: capacity $CAPACITY qps; flood target $TARGET qps ($SENDERS senders x $PER_SENDER)" >&2

# ---- 2. flood -------------------------------------------------------------------------
start shipped
curl -fsS "$METRICS_URL" >"$WORK/metrics-before.txt"
(
  t0=$(date +%s.%N)
  while kill -0 "$PID" 2>/dev/null; do
    echo "$(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN { printf "%.1f", a - b }') $(rss_kb "$PID")"
    sleep 0.5
  done
) >"$WORK/rss.txt" &
SAMPLER=$!
sleep 3  # the baseline
legit_seconds=$((FLOOD_SECONDS + 2))
python3 "$HERE/legit_client.py" 127.0.0.1 $PORT 127.0.2.1 "$LEGIT_QPS" "$legit_seconds" \
  >"$WORK/legit-other.txt" 2>&1 &
LEGIT1=$!
python3 "$HERE/legit_client.py" 127.0.0.1 $PORT 127.0.0.250 "$LEGIT_QPS" "$legit_seconds" \
  >"$WORK/legit-same.txt" 2>&1 &
LEGIT2=$!
sleep 1
FLOOD_START_S=$(awk '{ t = $1 } END { print t }' "$WORK/rss.txt")
senders=()
for ((i = 0; i < SENDERS; i++)); do
  # Responses dropped by RRL never come: a short timeout and many queries in flight keep
  # each sender at its rate instead of waiting on them.
  if [[ $SENDER == dnsperf ]]; then
    dnsperf -s 127.0.0.1 -p $PORT -a "127.0.0.$((11 + i))" -d "$WORK/queries.txt" \
      -l "$FLOOD_SECONDS" -Q "$PER_SENDER" -q 20000 -t 0.5 -c 4 -T 1 -O suppress=timeout,unexpected \
      >"$WORK/sender-$i.txt" 2>&1 &
  else
    "$FLOOD_SEND" --server 127.0.0.1 --port $PORT --bind "127.0.0.$((11 + i))" \
      --queries "$WORK/queries.txt" --qps "$PER_SENDER" --seconds "$FLOOD_SECONDS" \
      >"$WORK/sender-$i.txt" 2>&1 &
  fi
  senders+=($!)
done
for p in "${senders[@]}"; do wait "$p" || true; done
FLOOD_END_S=$(awk '{ t = $1 } END { print t }' "$WORK/rss.txt")
wait "$LEGIT1" "$LEGIT2" || true
sleep 5  # after the flood
ALIVE=0
if kill -0 "$PID" 2>/dev/null &&
  kdig @127.0.0.1 -p $PORT +time=2 +retry=1 +short static.edge.example A 2>/dev/null | grep -q .; then
  ALIVE=1
fi
kill "$SAMPLER" 2>/dev/null || true
SAMPLER=""
curl -fsS "$METRICS_URL" >"$WORK/metrics-after.txt" 2>/dev/null || : >"$WORK/metrics-after.txt"

SENT=0
for ((i = 0; i < SENDERS; i++)); do
  s="$(awk '/Queries sent:/ { print $3 }' "$WORK/sender-$i.txt")"
  SENT=$((SENT + ${s:-0}))
done
delta() {  # counters may be printed as floats (1.2e+06)
  awk -v a="$(metric "$WORK/metrics-after.txt" "$1")" -v b="$(metric "$WORK/metrics-before.txt" "$1")" \
    'BEGIN { printf "%d", a - b }'
}
DROPPED=$(delta prewarm_dns_rrl_dropped_total)
SLIPPED=$(delta prewarm_dns_rrl_slipped_total)
VALID=$(delta 'prewarm_dns_cookie_queries_total{server_cookie="valid"}')
awk -v fs="$FLOOD_START_S" -v fe="$FLOOD_END_S" '
  NR == 1 || $1 <= fs { start = $2 }
  { if ($2 > peak) peak = $2; end = $2 }
  $1 <= fe { during_end = $2 }
  END {
    printf "RSS start %.1f MiB (before the flood)  peak %.1f MiB  at the flood'"'"'s end %.1f MiB  5 s after %.1f MiB  peak/start %.3f\n",
      start / 1024, peak / 1024, during_end / 1024, end / 1024, peak / start
  }' "$WORK/rss.txt" >"$WORK/rss-summary.txt"

echo
echo "== prewarm DNS flood, $(date -u +%FT%TZ), commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "capacity (RRL off, dnsperf saturating): $CAPACITY qps"
awk -v s="$SENT" -v d="$FLOOD_SECONDS" -v t="$TARGET" -v c="$CAPACITY" 'BEGIN {
  printf "flood: %d queries from 127.0.0.11-%d (%s) in %d s = %d qps (target %d = %.1fx capacity; achieved %.2fx)\n",
    s, 10 + '"$SENDERS"', "'"$SENDER"'", d, s / d, t, t / c, s / d / c }'
cat "$WORK/rss-summary.txt"
echo "RRL: dropped $DROPPED, slipped $SLIPPED (/metrics, during the run); valid server cookies $VALID"
echo "legit from 127.0.2.1 (another /24):     $(cat "$WORK/legit-other.txt")"
echo "legit from 127.0.0.250 (flooded /24):   $(cat "$WORK/legit-same.txt")"
if ((ALIVE)); then echo "prewarm: alive, answering after the flood"; else echo "prewarm: CRASHED or not answering"; tail -30 "$WORK/shipped/log"; exit 1; fi
