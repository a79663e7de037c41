#!/usr/bin/env bash
# DNS throughput and CPU cost of prewarm's orchestrator next to Knot DNS, NSD (static
# answers), gdnsd (geoip plugin) and PowerDNS (geoip backend), all reading the same .mmdb
# where they place clients, measured by dnsperf in one run with the same query file, ECS
# option, duration, concurrency and number of server threads (1, 2 and 4 by default).
# See bench/dns_qps/README.md. Usage: bench/dns_qps/run.sh [--seconds N] [options]
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"

SECONDS_PER_RUN=10
CLIENTS=8
DNSPERF_THREADS=2
OUTSTANDING=100
THREAD_LIST="1 2 4"
SERVERS="prewarm prewarm-general knot nsd gdnsd pdns"
LAT_SECONDS=3
LAT_QPS=10000        # fixed rate of the latency pass (0 = skip it)
ECS_NET="198.51.100.0/24"
PREWARM_BIN="${PREWARM_BIN:-$ROOT/build/release/bin/prewarm}"
KEEP=0
PROFILE=0

# Ports and addresses: all on 127.0.0.0/8 and away from the defaults of `prewarm up`, so
# the benchmark can run beside one. The prewarm ones must match up-fake.yaml.
PREWARM_DNS_PORT=5371
PREWARM_OTHER_TCP_PORTS=(7491 9491 8491)   # grpc, http metrics, origin
KNOT_PORT=5372
NSD_PORT=5373
GDNSD_PORT=5374
PDNS_PORT=5375
METRICS_URL="http://127.0.0.1:9491/metrics"

usage() {
  cat <<EOF
usage: $0 [--seconds N] [--threads-list "1 2 4"] [--servers "..."] [--clients N]
          [--dnsperf-threads N] [--outstanding N] [--latency-seconds N] [--latency-qps N]
          [--ecs CIDR] [--keep] [--prewarm PATH]

  --seconds N          length of each timed dnsperf run (default $SECONDS_PER_RUN)
  --threads-list L     server thread counts to measure (default "$THREAD_LIST")
  --servers L          subset of: $SERVERS (default: all that are installed)
  --clients N          dnsperf -c: simulated clients, i.e. source sockets (default $CLIENTS)
  --dnsperf-threads N  dnsperf -T (default $DNSPERF_THREADS)
  --outstanding N      dnsperf -q: max queries in flight (default $OUTSTANDING)
  --latency-seconds N  length of the fixed-rate latency pass per server (default $LAT_SECONDS)
  --latency-qps N      rate of the latency pass; 0 skips it (default $LAT_QPS)
  --ecs CIDR           the EDNS Client Subnet every query carries (default $ECS_NET)
  --keep               keep the temp dir (configs, logs, raw dnsperf output)
  --profile            sample prewarm's DNS threads with perf during its saturating runs
                       and print where the time goes (perturbs those runs' figures)
  --prewarm PATH       prewarm binary (default \$PREWARM_BIN or build/release/bin/prewarm)
EOF
}

need_int() { [[ "$2" =~ ^[0-9]+$ ]] || { echo "run.sh: $1 needs a number, got '$2'" >&2; exit 2; }; }
while (($#)); do
  case "$1" in
    --seconds) need_int "$1" "${2:-}"; SECONDS_PER_RUN=$2; shift 2 ;;
    --threads-list) THREAD_LIST="${2:-}"; shift 2 ;;
    --servers) SERVERS="${2:-}"; shift 2 ;;
    --clients) need_int "$1" "${2:-}"; CLIENTS=$2; shift 2 ;;
    --dnsperf-threads) need_int "$1" "${2:-}"; DNSPERF_THREADS=$2; shift 2 ;;
    --outstanding) need_int "$1" "${2:-}"; OUTSTANDING=$2; shift 2 ;;
    --latency-seconds) need_int "$1" "${2:-}"; LAT_SECONDS=$2; shift 2 ;;
    --latency-qps) need_int "$1" "${2:-}"; LAT_QPS=$2; shift 2 ;;
    --ecs) ECS_NET="${2:-}"; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --profile) PROFILE=1; shift ;;
    --prewarm) PREWARM_BIN="${2:-}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
((SECONDS_PER_RUN > 0)) || { echo "run.sh: --seconds must be > 0" >&2; exit 2; }
for t in $THREAD_LIST; do need_int --threads-list "$t"; ((t > 0)) || { echo "run.sh: threads must be > 0" >&2; exit 2; }; done
[[ "$ECS_NET" =~ ^([0-9]+)\.([0-9]+)\.([0-9]+)\.([0-9]+)/([0-9]+)$ ]] ||
  { echo "run.sh: --ecs wants an IPv4 CIDR, got '$ECS_NET'" >&2; exit 2; }

die() { echo "run.sh: $*" >&2; exit 1; }

# ---- preconditions ---------------------------------------------------------------------
if [[ ! -x "$PREWARM_BIN" ]]; then
  die "prewarm binary not found at $PREWARM_BIN
  build it first:  cd $ROOT && cmake --preset release && cmake --build --preset release --target prewarm
  (or point --prewarm / PREWARM_BIN at one)"
fi
for tool in dnsperf kdig knotd curl ss awk sort perl; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found; run tools/install-deps"
done
perl -MMaxMind::DB::Writer::Tree -e 1 2>/dev/null || die "libmaxmind-db-writer-perl is not installed"
# Peers that are not installed are left out, and said so.
declare -A SERVER_BIN=([nsd]=nsd [gdnsd]=gdnsd [pdns]=pdns_server)
selected=()
for s in $SERVERS; do
  case "$s" in
    prewarm|prewarm-general|knot) selected+=("$s") ;;
    nsd|gdnsd|pdns)
      if command -v "${SERVER_BIN[$s]}" >/dev/null 2>&1 || [[ -x "/usr/sbin/${SERVER_BIN[$s]}" ]]; then
        selected+=("$s")
      else
        echo "run.sh: $s is not installed (tools/install-deps); left out" >&2
      fi ;;
    *) die "unknown server '$s' (one of: prewarm prewarm-general knot nsd gdnsd pdns)" ;;
  esac
done
if [[ " ${selected[*]} " == *" pdns "* ]] && [[ ! -e /usr/lib/x86_64-linux-gnu/pdns/libgeoipbackend.so ]] &&
  ! ls /usr/lib/*/pdns/libgeoipbackend.so >/dev/null 2>&1; then
  echo "run.sh: pdns-backend-geoip is not installed; PowerDNS left out" >&2
  selected=("${selected[@]/pdns/}")
fi
port_busy() {  # $1 = udp|tcp, $2 = port
  [[ -n "$(ss -Hln --"$1" "( sport = :$2 )" 2>/dev/null)" ]]
}
for p in "$PREWARM_DNS_PORT" "$KNOT_PORT" "$NSD_PORT" "$GDNSD_PORT" "$PDNS_PORT"; do
  port_busy udp "$p" && die "UDP port $p is in use (another run of this benchmark?)"
  port_busy tcp "$p" && die "TCP port $p is in use (another run of this benchmark?)"
done
for p in "${PREWARM_OTHER_TCP_PORTS[@]}"; do
  port_busy tcp "$p" && die "TCP port $p is in use (another run of this benchmark?)"
done

# ---- temp dir and cleanup -------------------------------------------------------------
WORK="$(mktemp -d /tmp/prewarm-dns-qps.XXXXXX)"
chmod 755 "$WORK"   # nsd and pdns may drop to their own users and must read their configs
SERVER_PID=""

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
  stop_pid "$SERVER_PID"
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
a_ttl() {  # $1 port, rest: extra kdig args. Prints the TTL of the first A record, or nothing.
  local port=$1; shift
  kdig @127.0.0.1 -p "$port" +time=1 +retry=0 +noall +answer "$@" static.edge.example A 2>/dev/null |
    awk '$4 == "A" { print $2; exit }'
}
wait_dns() {  # $1 port, $2 pid: wait up to 20 s for an answer
  local i
  for ((i = 0; i < 100; i++)); do
    kill -0 "$2" 2>/dev/null || return 1
    if kdig @127.0.0.1 -p "$1" +time=1 +retry=0 edge.example SOA 2>/dev/null | grep -q 'status: NOERROR'; then
      return 0
    fi
    sleep 0.2
  done
  return 1
}
descendants() {  # $1 pid: it and every process below it (NSD forks xfrd -> main -> servers)
  local c
  echo "$1"
  for c in $(pgrep -P "$1" 2>/dev/null); do descendants "$c"; done
}
cpu_ticks() {  # utime + stime of a process, its threads and its descendants, in ticks
  local p sum=0 t
  for p in $(descendants "$1"); do
    t="$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $12 + $13 }')" || t=0
    sum=$((sum + ${t:-0}))
  done
  echo "$sum"
}
metric() {  # $1 = metrics text file, $2 = exact series name
  awk -v k="$2" '$1 == k { print $2; found = 1 } END { if (!found) print 0 }' "$1"
}
# The answer to static.edge.example A with the benchmark's ECS; fails unless NOERROR + A.
verify() {  # $1 label, $2 port
  local out
  out="$(kdig @127.0.0.1 -p "$2" +time=2 +retry=1 +subnet="$ECS_NET" static.edge.example A 2>&1)" || true
  if ! grep -q 'status: NOERROR' <<<"$out" || ! awk '$1 !~ /^;/ && $4 == "A" { f = 1 } END { exit !f }' <<<"$out"; then
    echo "$out" >&2
    die "$1 did not answer static.edge.example A with NOERROR and an A record"
  fi
  printf '  %-16s static.edge.example A +subnet=%s -> %s\n' "$1" "$ECS_NET" \
    "$(awk '$1 !~ /^;/ && $4 == "A" { printf "%s (TTL %s) ", $5, $2 }' <<<"$out")$(sed -n 's/.*CLIENT-SUBNET: *//p' <<<"$out" | head -1)"
}

# ---- shared data: query file, ECS option, the .mmdb -----------------------------------
# 80% the service name (prewarm: a READY instance picked for the client's place; the geo
# peers: their geo answer; knot and nsd: a static A), 20% ordinary zone data: apex SOA and
# NS, the nameserver's A, and one NXDOMAIN. Every query carries the same ECS option.
QUERIES="$WORK/queries.txt"
{
  for _ in $(seq 16); do echo "static.edge.example A"; done
  echo "edge.example SOA"
  echo "edge.example NS"
  echo "ns1.edge.example A"
  echo "nosuch.edge.example A"
} >"$QUERIES"
ecs_hex() {  # option 8 body for an IPv4 CIDR: family 1, source prefix, scope 0, address bytes
  local cidr=$1 ip=${1%/*} len=${1#*/} o i
  IFS=. read -r -a o <<<"$ip"
  printf '0001%02x00' "$len"
  for ((i = 0; i < (len + 7) / 8; i++)); do printf '%02x' "${o[$i]}"; done
}
ECS_OPT="8:$(ecs_hex "$ECS_NET")"

# One database for every server that places clients: each network with its country and the
# coordinates of the region it belongs to (prewarm maps countries to regions, gdnsd picks
# the nearest datacenter by coordinates, PowerDNS by country code).
cat >"$WORK/networks.txt" <<EOF
192.0.2.0/24 DE 50.11 8.68
198.51.100.0/24 US 38.95 -77.45
203.0.113.0/24 SG 1.35 103.82
127.0.0.0/8 DE 50.11 8.68
EOF
perl "$ROOT/src/geo/testdata/write_mmdb.pl" "$WORK/networks.txt" "$WORK/geo.mmdb" ||
  die "could not write the benchmark's .mmdb"
chmod 644 "$WORK/geo.mmdb"

# The instance addresses prewarm answers per region, learned after its warm-up; the peers
# answer the same ones.
FRA_ADDR=127.79.1.2
IAD_ADDR=127.79.2.2
SIN_ADDR=127.79.3.2

# Starts a server in the background (its output to $dir/log), waits for it to answer on
# $2 and sets SERVER_PID and SERVER_PORT; on failure prints its logs and stops the run.
launch() {  # $1 label, $2 port, $3 log dir, rest: the command
  local label=$1 port=$2 dir=$3
  shift 3
  "$@" >"$dir/log" 2>&1 &
  SERVER_PID=$!
  SERVER_PORT=$port
  if ! wait_dns "$SERVER_PORT" "$SERVER_PID"; then
    tail -n 30 "$dir"/*log >&2 || true
    die "$label did not come up on 127.0.0.1:$port (log above)"
  fi
}

# ---- servers: start_<name> THREADS (sets SERVER_PID and SERVER_PORT) --------------------
start_prewarm() {  # $1 threads, $2 precomputed (true|false)
  local dir="$WORK/prewarm-$1-$2"
  mkdir -p "$dir"
  sed -e "s|@BENCH_DIR@|$dir|g" -e "s|@THREADS@|$1|g" -e "s|@PRECOMPUTED@|$2|g" \
    -e "s|@MMDB@|$WORK/geo.mmdb|g" "$HERE/up-fake.yaml" >"$dir/up.yaml"
  launch "prewarm up" "$PREWARM_DNS_PORT" "$dir" "$PREWARM_BIN" up --config "$dir/up.yaml"
  # Warm-up: one query per region (ECS) until every region answers with the stable TTL
  # (30), i.e. from a READY instance, so the timed runs measure the hot path.
  local i net all
  for ((i = 0; i < 150; i++)); do
    all=1
    for net in 192.0.2.0/24 198.51.100.0/24 203.0.113.0/24; do
      [[ "$(a_ttl "$SERVER_PORT" "+subnet=$net")" == 30 ]] || all=0
    done
    [[ "$(a_ttl "$SERVER_PORT")" == 30 ]] || all=0
    ((all)) && break
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.2
  done
  if ((!all)); then
    tail -n 30 "$dir/log" >&2 || true
    die "prewarm did not reach READY instances (TTL 30) within 30 s (log above)"
  fi
  FRA_ADDR="$(kdig @127.0.0.1 -p "$SERVER_PORT" +short +subnet=192.0.2.0/24 static.edge.example A | head -n1)"
  IAD_ADDR="$(kdig @127.0.0.1 -p "$SERVER_PORT" +short +subnet=198.51.100.0/24 static.edge.example A | head -n1)"
  SIN_ADDR="$(kdig @127.0.0.1 -p "$SERVER_PORT" +short +subnet=203.0.113.0/24 static.edge.example A | head -n1)"
  curl -fsS "$METRICS_URL" >"$WORK/metrics-before.txt" 2>/dev/null || : >"$WORK/metrics-before.txt"
}

# The static zone Knot and NSD serve: SOA (negative TTL 5), NS ns1 with glue, and the
# service name with the stable TTL pointing at the address prewarm gives the ECS network.
static_zone() {  # $1 file, $2 address
  cat >"$1" <<EOF
\$ORIGIN edge.example.
\$TTL 3600
@       3600 IN SOA ns1.edge.example. hostmaster.edge.example. 1 3600 600 604800 5
@       3600 IN NS  ns1.edge.example.
ns1     3600 IN A   127.0.0.1
static    30 IN A   $2
EOF
}
ecs_addr() {  # the address prewarm answers the benchmark's ECS network with
  case "$ECS_NET" in
    198.51.100.*) echo "$IAD_ADDR" ;;
    203.0.113.*) echo "$SIN_ADDR" ;;
    *) echo "$FRA_ADDR" ;;
  esac
}

start_knot() {
  local dir="$WORK/knot-$1"
  mkdir -p "$dir/run" "$dir/db" "$dir/zones"
  cat >"$dir/knot.conf" <<EOF
server:
    rundir: "$dir/run"
    listen: 127.0.0.1@$KNOT_PORT
    udp-workers: $1
    tcp-workers: 1
    background-workers: 1
log:
  - target: stderr
    any: warning
database:
    storage: "$dir/db"
template:
  - id: default
    storage: "$dir/zones"
    file: "%s.zone"
    journal-content: none
    zonefile-sync: -1
zone:
  - domain: edge.example.
EOF
  static_zone "$dir/zones/edge.example.zone" "$(ecs_addr)"
  launch knotd "$KNOT_PORT" "$dir" knotd -c "$dir/knot.conf"
}

start_nsd() {
  local dir="$WORK/nsd-$1"
  mkdir -p "$dir"
  static_zone "$dir/edge.example.zone" "$(ecs_addr)"
  cat >"$dir/nsd.conf" <<EOF
server:
    ip-address: 127.0.0.1@$NSD_PORT
    server-count: $1
    reuseport: yes
    username: ""
    chroot: ""
    zonesdir: "$dir"
    database: ""
    pidfile: "$dir/nsd.pid"
    xfrdfile: "$dir/xfrd.state"
    zonelistfile: "$dir/zone.list"
    logfile: "$dir/nsd.log"
    verbosity: 0
    rrl-ratelimit: 0            # NSD limits by default; the others run without RRL
    rrl-whitelist-ratelimit: 0
remote-control:
    control-enable: no
zone:
    name: edge.example.
    zonefile: "$dir/edge.example.zone"
EOF
  launch nsd "$NSD_PORT" "$dir" nsd -d -c "$dir/nsd.conf"
}

# gdnsd's geoip plugin over the same .mmdb: the nearest of three datacenters by the
# database's coordinates, each answering the address prewarm has in that region.
start_gdnsd() {
  local dir="$WORK/gdnsd-$1"
  mkdir -p "$dir/zones" "$dir/geoip" "$dir/run" "$dir/state"
  cp "$WORK/geo.mmdb" "$dir/geoip/geo.mmdb"
  cat >"$dir/config" <<EOF
options => {
  listen => [ 127.0.0.1:$GDNSD_PORT ]
  udp_threads => $1
  tcp_threads => 1
  run_dir => $dir/run
  state_dir => $dir/state
  zones_default_ttl => 3600
}
plugins => { geoip => {
  maps => {
    regions => {
      geoip2_db => geo.mmdb
      datacenters => [fra, iad, sin]
      auto_dc_coords => { fra => [50.11, 8.68], iad => [38.95, -77.45], sin => [1.35, 103.82] }
    }
  }
  resources => {
    static => {
      map => regions
      service_types => up
      dcmap => { fra => $FRA_ADDR, iad => $IAD_ADDR, sin => $SIN_ADDR }
    }
  }
}}
EOF
  cat >"$dir/zones/edge.example" <<EOF
@       3600 IN SOA ns1.edge.example. hostmaster.edge.example. 1 3600 600 604800 5
@       3600 IN NS  ns1.edge.example.
ns1     3600 IN A   127.0.0.1
static    30 IN DYNA geoip!static
EOF
  launch gdnsd "$GDNSD_PORT" "$dir" gdnsd -c "$dir" start
}

# PowerDNS with its geoip backend over the same .mmdb: the country code picks the record.
start_pdns() {
  local dir="$WORK/pdns-$1"
  mkdir -p "$dir"
  cat >"$dir/zones.yaml" <<EOF
domains:
- domain: edge.example
  ttl: 30
  records:
    edge.example:
      - soa: ns1.edge.example. hostmaster.edge.example. 1 3600 600 604800 5
      - ns:
          content: ns1.edge.example.
          ttl: 3600
    ns1.edge.example:
      - a:
          content: 127.0.0.1
          ttl: 3600
    de.static.edge.example:
      - a: $FRA_ADDR
    us.static.edge.example:
      - a: $IAD_ADDR
    sg.static.edge.example:
      - a: $SIN_ADDR
    unknown.static.edge.example:
      - a: $FRA_ADDR
  services:
    static.edge.example: [ '%cc.static.edge.example', 'unknown.static.edge.example' ]
EOF
  cat >"$dir/pdns.conf" <<EOF
launch=geoip
geoip-database-files=mmdb:$WORK/geo.mmdb
geoip-zones-file=$dir/zones.yaml
edns-subnet-processing=yes
local-address=127.0.0.1
local-port=$PDNS_PORT
receiver-threads=$1
distributor-threads=$1
reuseport=yes
socket-dir=$dir
guardian=no
daemon=no
disable-syslog=yes
loglevel=3
setuid=
setgid=
webserver=no
api=no
EOF
  launch pdns_server "$PDNS_PORT" "$dir" pdns_server --config-dir="$dir"
}

start_server() {  # $1 name, $2 threads
  case "$1" in
    prewarm) start_prewarm "$2" true ;;
    prewarm-general) start_prewarm "$2" false ;;
    knot) start_knot "$2" ;;
    nsd) start_nsd "$2" ;;
    gdnsd) start_gdnsd "$2" ;;
    pdns) start_pdns "$2" ;;
  esac
}

# ---- runs ----------------------------------------------------------------------------
NCPU="$(nproc)"
echo "dnsperf: $(dnsperf -h 2>&1 | awk '/^Version/ { print $2 }'), -l $SECONDS_PER_RUN -c $CLIENTS -T $DNSPERF_THREADS -q $OUTSTANDING, UDP, every query with ECS $ECS_NET (-E $ECS_OPT)"
echo "queries: $(wc -l <"$QUERIES") lines, 80% static.edge.example A, 20% SOA/NS/ns1 A/NXDOMAIN"
echo "servers: ${selected[*]}; server threads: $THREAD_LIST"
echo "versions: prewarm $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), knot $(knotd -V 2>&1 | awk '{print $NF; exit}')$(command -v nsd >/dev/null && echo ", nsd $(nsd -v 2>&1 | awk '/version/ {print $NF; exit}')")$(command -v gdnsd >/dev/null && echo ", gdnsd $(gdnsd -V 2>&1 | grep -o '[0-9]\+\.[0-9]\+\.[0-9]\+' | head -1)")$(command -v pdns_server >/dev/null && echo ", pdns $(dpkg-query -W -f='${Version}' pdns-server 2>/dev/null)")"
echo "machine: $NCPU CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) before the runs"
if ((NCPU <= 4)); then
  echo "NOTE: only $NCPU CPUs; dnsperf runs on the same machine and competes with the server"
  echo "      for them, so absolute qps is bounded by the load generator too. Compare the"
  echo "      ratios and the server CPU per answered query, not the absolute numbers."
fi
echo

RESULTS="$WORK/results.txt"   # threads server qps cpu_us_per_answer p50 p99 lost rcodes
: >"$RESULTS"
for T in $THREAD_LIST; do
  echo "== $T server thread(s) =="
  for S in "${selected[@]}"; do
    [[ -n "$S" ]] || continue
    start_server "$S" "$T"
    verify "$S" "$SERVER_PORT"
    out="$WORK/dnsperf-$S-$T.txt"
    PERF_PID=""
    if ((PROFILE)) && [[ "$S" == prewarm* ]]; then
      command -v perf >/dev/null 2>&1 || die "--profile needs perf (Debian: linux-perf)"
      # cpu-clock: a software event, so it samples where hardware counters are not exposed
      # (virtual machines); DWARF unwinding, as the release build keeps no frame pointers.
      perf record -q -e cpu-clock -F 999 --call-graph dwarf,16384 -p "$SERVER_PID" \
        -o "$WORK/perf-$S-$T.data" -- sleep "$SECONDS_PER_RUN" >"$WORK/perf-$S-$T.log" 2>&1 &
      PERF_PID=$!
    fi
    before="$(cpu_ticks "$SERVER_PID")"
    dnsperf -s 127.0.0.1 -p "$SERVER_PORT" -d "$QUERIES" -l "$SECONDS_PER_RUN" -c "$CLIENTS" \
      -T "$DNSPERF_THREADS" -q "$OUTSTANDING" -t 2 -E "$ECS_OPT" >"$out" 2>&1 ||
      { cat "$out" >&2; die "dnsperf against $S failed"; }
    after="$(cpu_ticks "$SERVER_PID")"
    if [[ -n "$PERF_PID" ]]; then
      wait "$PERF_PID" || true
      comms="$(seq -s, -f 'dns-udp-%g' 0 $((T - 1)))"
      echo "  $S: perf samples of the DNS threads ($comms), self time by function:"
      perf_top() {  # $1 --children|--no-children, $2 percent limit, $3 filter
        perf report -i "$WORK/perf-$S-$T.data" --comms "$comms" "$1" --sort symbol --stdio \
          -g none --percent-limit "$2" 2>/dev/null | grep -E '^ +[0-9]' | grep -E -- "$3" |
          sed -E 's/ +- +- *$//; s/ +/ /g' | cut -c1-120 | sed 's/^/   /' || true
      }
      perf_top --no-children 0.7 . | head -40 >"$WORK/profile-$S-$T.txt" || true
      cat "$WORK/profile-$S-$T.txt"
      echo "  $S: user-space functions with their callees (children), over 0.4%:"
      perf_top --children 0.4 '\[\.\]' | head -45 || true
    fi
    lat="-"
    p50="-"
    p99="-"
    if ((LAT_QPS > 0 && LAT_SECONDS > 0)); then
      lat="$WORK/latency-$S-$T.txt"
      dnsperf -s 127.0.0.1 -p "$SERVER_PORT" -d "$QUERIES" -l "$LAT_SECONDS" -c "$CLIENTS" \
        -T "$DNSPERF_THREADS" -q "$OUTSTANDING" -Q "$LAT_QPS" -t 2 -E "$ECS_OPT" -v >"$lat" 2>&1 ||
        { tail "$lat" >&2; die "dnsperf -v against $S failed"; }
      read -r p50 p99 < <(awk '/^> / { print $NF * 1e6 }' "$lat" | sort -g | awk '
        { v[NR] = $1 }
        function pct(p,   i) { i = int(p * NR + 0.999999); if (i < 1) i = 1; if (i > NR) i = NR; return v[i] }
        END { if (NR == 0) print "- -"; else printf "%.0f %.0f\n", pct(0.5), pct(0.99) }')
    fi
    if [[ "$S" == prewarm* ]]; then
      curl -fsS "$METRICS_URL" >"$WORK/metrics-after.txt" 2>/dev/null || : >"$WORK/metrics-after.txt"
      printf '  %-16s service answers during the runs:' "$S"
      for k in ready starting cold remote origin; do
        s="prewarm_service_answers_total{kind=\"$k\"}"
        printf ' %s=%s' "$k" $(( $(metric "$WORK/metrics-after.txt" "$s") - $(metric "$WORK/metrics-before.txt" "$s") ))
      done
      echo
    fi
    stop_pid "$SERVER_PID"
    SERVER_PID=""
    qps="$(awk '/Queries per second/ { printf "%.0f", $4 }' "$out")"
    done_q="$(awk '/Queries completed/ { print $3 }' "$out")"
    lost="$(awk '/Queries lost/ { print $3 }' "$out")"
    codes="$(sed -n 's/^ *Response codes: *//p' "$out" | tr -d ' ')"
    cpu_us="$(awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" -v n="${done_q:-0}" \
      'BEGIN { if (n > 0) printf "%.2f", t / hz * 1e6 / n; else print "-" }')"
    echo "$T $S ${qps:-0} $cpu_us $p50 $p99 ${lost:-?} $codes" >>"$RESULTS"
    printf '  %-16s %8s qps  %6s us CPU/answer  p50 %5s us  p99 %5s us  lost %s  %s\n' \
      "$S" "${qps:-0}" "$cpu_us" "$p50" "$p99" "${lost:-?}" "$codes"
  done
  echo "  load average now: $(cut -d' ' -f1-3 /proc/loadavg)"
done

# ---- report --------------------------------------------------------------------------
echo
echo "results: qps saturating ($SECONDS_PER_RUN s), server CPU microseconds per answered query,"
echo "latency p50/p99 in microseconds at a fixed $LAT_QPS qps ($LAT_SECONDS s), ECS $ECS_NET:"
printf '  %-7s %-16s %9s %9s %7s %7s %7s\n' threads server qps cpu_us/q p50 p99 lost
awk '{ printf "  %-7s %-16s %9s %9s %7s %7s %7s\n", $1, $2, $3, $4, $5, $6, $7 }' "$RESULTS"
echo
echo "ratios (prewarm = the precomputed path; prewarm-general = every query computed):"
for T in $THREAD_LIST; do
  awk -v T="$T" '
    $1 == T { qps[$2] = $3; cpu[$2] = $4 }
    function r(a, b) { return (a > 0 && b > 0) ? sprintf("%.2f", a / b) : "n/a" }
    END {
      best = ""; for (s in qps) if ((s == "gdnsd" || s == "pdns") && (best == "" || qps[s] > qps[best])) best = s
      printf "  %s thread(s): qps prewarm/knot %s, CPU per answer prewarm/knot %s", T, r(qps["prewarm"], qps["knot"]), r(cpu["prewarm"], cpu["knot"])
      if ("prewarm-general" in qps) printf ", qps prewarm/prewarm-general %s", r(qps["prewarm"], qps["prewarm-general"])
      if ("nsd" in qps) printf ", qps prewarm/nsd %s", r(qps["prewarm"], qps["nsd"])
      if (best != "") printf ", qps prewarm/%s (best geo peer) %s, CPU per answer %s/prewarm %s", best, r(qps["prewarm"], qps[best]), best, r(cpu[best], cpu["prewarm"])
      printf "\n"
    }' "$RESULTS"
done
