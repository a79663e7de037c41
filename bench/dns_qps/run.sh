#!/usr/bin/env bash
# DNS throughput of prewarm's orchestrator next to Knot DNS serving an equivalent static
# zone, measured by dnsperf in one run with the same query file, duration and concurrency.
# See bench/dns_qps/README.md. Usage: bench/dns_qps/run.sh [--seconds N] [options]
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"

SECONDS_PER_RUN=10
CLIENTS=8
THREADS=2
OUTSTANDING=100
REPEAT=1             # run prewarm a second time after knot, to show run-to-run variance
LAT_SECONDS=3
LAT_QPS=10000        # fixed rate of the latency pass (0 = skip it)
PREWARM_BIN="${PREWARM_BIN:-$ROOT/build/release/bin/prewarm}"
KEEP=0

# Ports and addresses: all on 127.0.0.0/8 and away from the defaults of `prewarm up`, so
# the benchmark can run beside one. The prewarm ones must match up-fake.yaml.
PREWARM_DNS_PORT=5391
PREWARM_OTHER_TCP_PORTS=(7491 9491 8491)   # grpc, http metrics, origin
KNOT_PORT=5392
METRICS_URL="http://127.0.0.1:9491/metrics"

usage() {
  cat <<EOF
usage: $0 [--seconds N] [--clients N] [--threads N] [--outstanding N]
          [--latency-seconds N] [--latency-qps N] [--no-repeat] [--keep] [--prewarm PATH]

  --seconds N          length of each timed dnsperf run (default $SECONDS_PER_RUN)
  --clients N          dnsperf -c: simulated clients, i.e. source sockets (default $CLIENTS)
  --threads N          dnsperf -T (default $THREADS)
  --outstanding N      dnsperf -q: max queries in flight (default $OUTSTANDING)
  --latency-seconds N  length of the fixed-rate latency pass per server (default $LAT_SECONDS)
  --latency-qps N      rate of the latency pass; 0 skips it (default $LAT_QPS)
  --no-repeat          run prewarm once (default: prewarm, knot, prewarm)
  --keep               keep the temp dir (configs, logs, raw dnsperf output)
  --prewarm PATH       prewarm binary (default \$PREWARM_BIN or build/release/bin/prewarm)
EOF
}

need_int() { [[ "$2" =~ ^[0-9]+$ ]] || { echo "run.sh: $1 needs a number, got '$2'" >&2; exit 2; }; }
while (($#)); do
  case "$1" in
    --seconds) need_int "$1" "${2:-}"; SECONDS_PER_RUN=$2; shift 2 ;;
    --clients) need_int "$1" "${2:-}"; CLIENTS=$2; shift 2 ;;
    --threads) need_int "$1" "${2:-}"; THREADS=$2; shift 2 ;;
    --outstanding) need_int "$1" "${2:-}"; OUTSTANDING=$2; shift 2 ;;
    --latency-seconds) need_int "$1" "${2:-}"; LAT_SECONDS=$2; shift 2 ;;
    --latency-qps) need_int "$1" "${2:-}"; LAT_QPS=$2; shift 2 ;;
    --no-repeat) REPEAT=0; shift ;;
    --keep) KEEP=1; shift ;;
    --prewarm) PREWARM_BIN="${2:-}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
((SECONDS_PER_RUN > 0)) || { echo "run.sh: --seconds must be > 0" >&2; exit 2; }

die() { echo "run.sh: $*" >&2; exit 1; }

# ---- preconditions ---------------------------------------------------------------------
if [[ ! -x "$PREWARM_BIN" ]]; then
  die "prewarm binary not found at $PREWARM_BIN
  build it first:  cd $ROOT && cmake --preset release && cmake --build --preset release --target prewarm
  (or point --prewarm / PREWARM_BIN at one)"
fi
for tool in dnsperf kdig knotd curl ss awk sort; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found; run tools/install-deps (packages dnsperf, knot-dnsutils, knot, curl, iproute2)"
done
port_busy() {  # $1 = udp|tcp, $2 = port
  [[ -n "$(ss -Hln --"$1" "( sport = :$2 )" 2>/dev/null)" ]]
}
for p in "$PREWARM_DNS_PORT" "$KNOT_PORT"; do
  port_busy udp "$p" && die "UDP port $p is in use (another run of this benchmark?)"
  port_busy tcp "$p" && die "TCP port $p is in use (another run of this benchmark?)"
done
for p in "${PREWARM_OTHER_TCP_PORTS[@]}"; do
  port_busy tcp "$p" && die "TCP port $p is in use (another run of this benchmark?)"
done

# ---- temp dir and cleanup -------------------------------------------------------------
WORK="$(mktemp -d /tmp/prewarm-dns-qps.XXXXXX)"
PREWARM_PID=""
KNOT_PID=""

stop_pid() {  # SIGTERM, wait up to 5 s, then SIGKILL
  local pid=$1 i
  [[ -n "$pid" ]] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.1
  done
  echo "run.sh: pid $pid did not stop on SIGTERM; killing it" >&2
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_pid "$PREWARM_PID"
  stop_pid "$KNOT_PID"
  if ((KEEP)); then
    echo "run.sh: kept $WORK"
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- helpers ------------------------------------------------------------------------
# Prints the TTL of the first A record in the answer, or nothing.
a_ttl() {  # $1 port, rest: extra kdig args
  local port=$1; shift
  kdig @127.0.0.1 -p "$port" +time=1 +retry=0 +noall +answer "$@" static.edge.example A 2>/dev/null |
    awk '$4 == "A" { print $2; exit }'
}
wait_dns() {  # $1 port, $2 name, $3 pid: wait up to 15 s for any answer
  local i
  for ((i = 0; i < 75; i++)); do
    kill -0 "$3" 2>/dev/null || return 1
    if kdig @127.0.0.1 -p "$1" +time=1 +retry=0 edge.example SOA 2>/dev/null | grep -q 'status: NOERROR'; then
      return 0
    fi
    sleep 0.2
  done
  return 1
}
cpu_ticks() {  # utime + stime of a process, in clock ticks
  sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}
metric() {  # $1 = metrics text file, $2 = exact series name
  awk -v k="$2" '$1 == k { print $2; found = 1 } END { if (!found) print 0 }' "$1"
}

# Correctness: NOERROR with an A record for static.edge.example; print the answer line.
verify() {  # $1 label, $2 port
  local out
  out="$(kdig @127.0.0.1 -p "$2" +time=2 +retry=1 static.edge.example A 2>&1)" || true
  if ! grep -q 'status: NOERROR' <<<"$out" || ! awk '$1 !~ /^;/ && $4 == "A" { f = 1 } END { exit !f }' <<<"$out"; then
    echo "$out" >&2
    die "$1 did not answer static.edge.example A with NOERROR and an A record"
  fi
  printf '  %-8s static.edge.example A -> %s\n' "$1" \
    "$(awk '$1 !~ /^;/ && $4 == "A" { printf "%s (TTL %s) ", $5, $2 }' <<<"$out")NOERROR"
}

# ---- query file -----------------------------------------------------------------------
# 80% the service name (prewarm: snapshot lookup of a READY instance; knot: a plain A),
# 20% ordinary zone data: apex SOA and NS, the nameserver's A, and one NXDOMAIN.
QUERIES="$WORK/queries.txt"
{
  for _ in $(seq 16); do echo "static.edge.example A"; done
  echo "edge.example SOA"
  echo "edge.example NS"
  echo "ns1.edge.example A"
  echo "nosuch.edge.example A"
} >"$QUERIES"

# ---- prewarm --------------------------------------------------------------------------
mkdir -p "$WORK/prewarm"
sed "s|@BENCH_DIR@|$WORK/prewarm|g" "$HERE/up-fake.yaml" >"$WORK/prewarm/up.yaml"
"$PREWARM_BIN" up --config "$WORK/prewarm/up.yaml" >"$WORK/prewarm/log" 2>&1 &
PREWARM_PID=$!
if ! wait_dns "$PREWARM_DNS_PORT" prewarm "$PREWARM_PID"; then
  tail -n 30 "$WORK/prewarm/log" >&2 || true
  die "prewarm up did not come up on 127.0.0.1:$PREWARM_DNS_PORT (log above)"
fi

# Warm-up: one query per region (ECS) until every region answers with the stable TTL (30),
# i.e. from a READY instance, so the timed runs measure the hot path, not the cold path.
echo "warm-up: waiting for READY instances in all three regions (TTL 30)..."
warm=0
for ((i = 0; i < 150; i++)); do
  all=1
  for net in 192.0.2.0/24 198.51.100.0/24 203.0.113.0/24; do
    [[ "$(a_ttl "$PREWARM_DNS_PORT" "+subnet=$net")" == 30 ]] || all=0
  done
  # and the benchmark's own source (127.0.0.1 -> frankfurt, no ECS)
  [[ "$(a_ttl "$PREWARM_DNS_PORT")" == 30 ]] || all=0
  if ((all)); then warm=1; break; fi
  kill -0 "$PREWARM_PID" 2>/dev/null || break
  sleep 0.2
done
if ((!warm)); then
  tail -n 30 "$WORK/prewarm/log" >&2 || true
  die "prewarm did not reach READY instances (TTL 30) within 30 s (log above)"
fi

# ---- knot -----------------------------------------------------------------------------
mkdir -p "$WORK/knot/run" "$WORK/knot/db" "$WORK/knot/zones"
cat >"$WORK/knot/knot.conf" <<EOF
server:
    rundir: "$WORK/knot/run"
    listen: 127.0.0.1@$KNOT_PORT
    udp-workers: 2          # = prewarm's dns udp_threads
    tcp-workers: 1
    background-workers: 1
log:
  - target: stderr
    any: warning
database:
    storage: "$WORK/knot/db"
template:
  - id: default
    storage: "$WORK/knot/zones"
    file: "%s.zone"
    journal-content: none
    zonefile-sync: -1
zone:
  - domain: edge.example.
EOF
# Same data prewarm serves: SOA (negative TTL 5), NS ns1 with glue, and the service name
# with the stable TTL pointing at prewarm's frankfurt instance.
fra_addr="$(kdig @127.0.0.1 -p "$PREWARM_DNS_PORT" +short static.edge.example A | head -n1)"
cat >"$WORK/knot/zones/edge.example.zone" <<EOF
\$ORIGIN edge.example.
@       3600 IN SOA ns1.edge.example. hostmaster.edge.example. 1 3600 600 604800 5
@       3600 IN NS  ns1.edge.example.
ns1     3600 IN A   127.0.0.1
static    30 IN A   ${fra_addr:-127.79.1.1}
EOF
knotd -c "$WORK/knot/knot.conf" >"$WORK/knot/log" 2>&1 &
KNOT_PID=$!
if ! wait_dns "$KNOT_PORT" knot "$KNOT_PID"; then
  cat "$WORK/knot/log" >&2 || true
  die "knotd did not come up on 127.0.0.1:$KNOT_PORT (log above)"
fi

echo "correctness:"
verify prewarm "$PREWARM_DNS_PORT"
verify knot "$KNOT_PORT"

# ---- timed runs -----------------------------------------------------------------------
NCPU="$(nproc)"
echo
echo "dnsperf: $(dnsperf -h 2>&1 | awk '/^Version/ { print $2 }'), -l $SECONDS_PER_RUN -c $CLIENTS -T $THREADS -q $OUTSTANDING, no -Q (as fast as answered), UDP"
echo "queries: $(wc -l <"$QUERIES") lines, 80% static.edge.example A, 20% SOA/NS/ns1 A/NXDOMAIN, no ECS"
echo "machine: $NCPU CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) before the runs"
if ((NCPU <= 4)); then
  echo "NOTE: only $NCPU CPUs; dnsperf runs on the same machine and competes with the server"
  echo "      for them, so absolute qps is bounded by the load generator too. Compare the ratios,"
  echo "      and the queries per server CPU-second (qps/cpu), not the absolute numbers."
fi
echo

RUN_NAMES=()
RUN_FILES=()
RUN_CPU=()
run_dnsperf() {  # $1 label, $2 port, $3 pid, $4 run number
  local out="$WORK/dnsperf-$1-$4.txt" before after
  before="$(cpu_ticks "$3")"
  dnsperf -s 127.0.0.1 -p "$2" -d "$QUERIES" -l "$SECONDS_PER_RUN" -c "$CLIENTS" -T "$THREADS" \
    -q "$OUTSTANDING" -t 2 >"$out" 2>&1 || { cat "$out" >&2; die "dnsperf against $1 failed"; }
  after="$(cpu_ticks "$3")"
  RUN_NAMES+=("$1")
  RUN_FILES+=("$out")
  RUN_CPU+=("$(awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }')")
  echo "  $1 run $4: $(awk '/Queries per second/ { printf "%.0f qps", $4 }' "$out")"
}

curl -fsS "$METRICS_URL" >"$WORK/metrics-before.txt" 2>/dev/null || : >"$WORK/metrics-before.txt"
echo "timed runs ($SECONDS_PER_RUN s each):"
run_dnsperf prewarm "$PREWARM_DNS_PORT" "$PREWARM_PID" 1
run_dnsperf knot "$KNOT_PORT" "$KNOT_PID" 1
if ((REPEAT)); then run_dnsperf prewarm "$PREWARM_DNS_PORT" "$PREWARM_PID" 2; fi
curl -fsS "$METRICS_URL" >"$WORK/metrics-after.txt" 2>/dev/null || : >"$WORK/metrics-after.txt"
echo "  load average after the timed runs: $(cut -d' ' -f1-3 /proc/loadavg) (the benchmark alone keeps about 4 threads runnable; more means other load)"

# ---- latency pass at a fixed rate ------------------------------------------------------
# dnsperf 2.10 has no latency histogram; with -v it prints every response with its latency,
# which is too costly for the saturating runs but fine at a fixed rate well below capacity.
LAT_FILES=()
LAT_NAMES=()
if ((LAT_QPS > 0 && LAT_SECONDS > 0)); then
  echo "latency pass (-Q $LAT_QPS for $LAT_SECONDS s each, -v per-response latencies)..."
  for target in "prewarm $PREWARM_DNS_PORT" "knot $KNOT_PORT"; do
    read -r name port <<<"$target"
    out="$WORK/latency-$name.txt"
    dnsperf -s 127.0.0.1 -p "$port" -d "$QUERIES" -l "$LAT_SECONDS" -c "$CLIENTS" -T "$THREADS" \
      -q "$OUTSTANDING" -Q "$LAT_QPS" -t 2 -v >"$out" 2>&1 || { tail "$out" >&2; die "dnsperf -v against $name failed"; }
    LAT_NAMES+=("$name")
    LAT_FILES+=("$out")
  done
fi

# ---- report --------------------------------------------------------------------------
field() {  # $1 file, $2 what
  case "$2" in
    qps) awk '/Queries per second/ { printf "%.0f", $4 }' "$1" ;;
    avg) awk '/Average Latency/ { printf "%.0f", $4 * 1e6 }' "$1" ;;
    max) awk '/Average Latency/ { gsub(/\)/, "", $8); printf "%.0f", $8 * 1e6 }' "$1" ;;
    sd) awk '/Latency StdDev/ { printf "%.0f", $4 * 1e6 }' "$1" ;;
    lost) awk '/Queries lost/ { print $3 }' "$1" ;;
    codes) sed -n 's/^ *Response codes: *//p' "$1" ;;
    size) awk '/Average packet size/ { gsub(/,/, "", $5); printf "%s/%s", $5, $7 }' "$1" ;;
  esac
}

echo
echo "results (UDP, $SECONDS_PER_RUN s per run; latency under saturation, in microseconds):"
printf '  %-9s %4s %10s %8s %8s %8s %6s %8s %12s %9s\n' server run qps avg_us sd_us max_us lost "req/resp" "server_cpu_s" "qps/cpu"
declare -A runno=()
for idx in "${!RUN_NAMES[@]}"; do
  n="${RUN_NAMES[$idx]}"; f="${RUN_FILES[$idx]}"; cpu="${RUN_CPU[$idx]}"
  runno[$n]=$(( ${runno[$n]:-0} + 1 ))
  qps="$(field "$f" qps)"
  per_cpu="$(awk -v q="$qps" -v c="$cpu" -v s="$SECONDS_PER_RUN" 'BEGIN { if (c > 0) printf "%.0f", q * s / c; else print "-" }')"
  printf '  %-9s %4s %10s %8s %8s %8s %6s %8s %12s %9s\n' "$n" "${runno[$n]}" "$qps" \
    "$(field "$f" avg)" "$(field "$f" sd)" "$(field "$f" max)" "$(field "$f" lost)" "$(field "$f" size)" "$cpu" "$per_cpu"
done
for idx in "${!RUN_NAMES[@]}"; do
  printf '  %-9s rcodes: %s\n' "${RUN_NAMES[$idx]}" "$(field "${RUN_FILES[$idx]}" codes)"
done

if ((${#LAT_FILES[@]})); then
  echo
  echo "latency at a fixed $LAT_QPS qps (not saturated), microseconds, from dnsperf -v:"
  printf '  %-9s %9s %8s %8s %8s %8s %8s\n' server responses p50 p90 p99 p99.9 max
  for idx in "${!LAT_FILES[@]}"; do
    awk '/^> / { print $NF * 1e6 }' "${LAT_FILES[$idx]}" | sort -g >"$WORK/lat-sorted.txt"
    awk -v name="${LAT_NAMES[$idx]}" '
      { v[NR] = $1 }
      function pct(p,   i) { i = int(p * NR + 0.999999); if (i < 1) i = 1; if (i > NR) i = NR; return v[i] }
      END {
        if (NR == 0) { printf "  %-9s %9s\n", name, "no data"; exit }
        printf "  %-9s %9d %8.0f %8.0f %8.0f %8.0f %8.0f\n", name, NR, pct(0.5), pct(0.9), pct(0.99), pct(0.999), v[NR]
      }' "$WORK/lat-sorted.txt"
  done
fi

# prewarm's own counters over the timed runs: service answers should all be "ready".
if [[ -s "$WORK/metrics-after.txt" ]]; then
  echo
  printf '  prewarm service answers during the timed runs:'
  for k in ready starting cold remote origin; do
    s="prewarm_service_answers_total{kind=\"$k\"}"
    printf ' %s=%s' "$k" $(( $(metric "$WORK/metrics-after.txt" "$s") - $(metric "$WORK/metrics-before.txt" "$s") ))
  done
  echo
fi

echo
prewarm_sum=0
prewarm_n=0
prewarm_cpu=0
knot_qps=0
knot_cpu=0
for idx in "${!RUN_NAMES[@]}"; do
  q="$(field "${RUN_FILES[$idx]}" qps)"
  if [[ "${RUN_NAMES[$idx]}" == prewarm ]]; then
    prewarm_sum=$((prewarm_sum + ${q:-0}))
    prewarm_n=$((prewarm_n + 1))
    prewarm_cpu="$(awk -v a="$prewarm_cpu" -v b="${RUN_CPU[$idx]}" 'BEGIN { print a + b }')"
  else
    knot_qps=${q:-0}
    knot_cpu=${RUN_CPU[$idx]}
  fi
done
prewarm_mean=$((prewarm_sum / prewarm_n))
if ((REPEAT)); then
  echo "prewarm qps is the mean of its ${runno[prewarm]} runs (before and after knot)."
fi
# Server CPU-seconds per query is the fairer figure when the load generator is the limit.
awk -v ps="$prewarm_sum" -v pc="$prewarm_cpu" -v kq="$knot_qps" -v kc="$knot_cpu" -v s="$SECONDS_PER_RUN" '
  BEGIN { if (pc > 0 && kc > 0 && kq > 0)
            printf "ratio prewarm/knot queries per server CPU-second: %.2f\n", (ps * s / pc) / (kq * s / kc) }'
awk -v p="$prewarm_mean" -v k="$knot_qps" 'BEGIN { if (k > 0) printf "ratio prewarm/knot qps: %.2f\n", p / k; else print "ratio prewarm/knot qps: n/a (knot qps is 0)" }'
