# Shared helpers for the end-to-end tests: a tiny runner that counts checks and prints
# "N passed, M failed" (a line CI understands), and waiting helpers. Source it.
PASSED=0
FAILED=0

pass() { PASSED=$((PASSED + 1)); echo "PASS: $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL: $*"; }

# check "description" command... — passes when the command exits 0.
check() {
  local what=$1
  shift
  if "$@"; then pass "$what"; else fail "$what"; return 1; fi
}

# wait_until SECONDS command... — polls every 0.2 s; 0 when the command succeeded.
wait_until() {
  local deadline=$((SECONDS + $1))
  shift
  while ((SECONDS < deadline)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  return 1
}

finish() {
  echo "${PASSED} passed, ${FAILED} failed"
  ((FAILED == 0))
}

# stop_if_failed LOG: after a check the rest depends on (prewarm up came up): when any
# check failed so far, prints the end of LOG and the tally, and exits 1.
stop_if_failed() {
  if ((FAILED > 0)); then
    tail -80 "$1"
    finish
    exit 1
  fi
}

# start_up LOG [prewarm up arguments...]: starts "$PREWARM up" in the background with its
# output in LOG, sets UP_PID, and stops it (SIGINT) when the script exits.
start_up() {
  local log=$1
  shift
  "$PREWARM" up "$@" >"$log" 2>&1 &
  UP_PID=$!
  trap stop_up EXIT
}
stop_up() {
  kill -INT "$UP_PID" 2>/dev/null
  wait "$UP_PID" 2>/dev/null
}
# The first A record of static.edge.example from the default up config's DNS (kdig args).
a_record() { kdig @127.0.0.1 -p 5353 +short "$@" static.edge.example A | head -1; }
three_nodes() { curl -sf http://127.0.0.1:9400/healthz | grep -q "nodes=3"; }

# one_node_config RUNTIME ORIGIN_ROOT SERVICE...: prints a `prewarm up` config with one
# region (frankfurt, all of 127.0.0.0/8), one agent fra-1 on 127.77.1.0/24 running RUNTIME,
# the origin serving ORIGIN_ROOT ("": sample content) and each SERVICE served by the
# template of the same name. The agent's `templates:` entries come from stdin (YAML list
# items indented by 6 spaces).
one_node_config() {
  local runtime=$1 origin_root=$2
  shift 2
  cat <<YAML
log_level: info
origin_server: {listen: 127.0.0.1:8400, fallback: 127.77.0.1:80, root: "$origin_root"}
orchestrator:
  zone: edge.example.
  dns: {listen: 127.0.0.1:5353, udp_threads: 1, tcp: true}
  grpc: {listen: 127.0.0.1:7400}
  http: {listen: 127.0.0.1:9400}
  ttl: {stable_s: 30, short_s: 5}
  origin: {addresses: [127.77.0.1], port: 80}
  regions:
    - {name: frankfurt, latitude: 50.11, longitude: 8.68}
  networks:
    - {cidr: 127.0.0.0/8, region: frankfurt}
  default_region: frankfurt
  node_timeout_s: 5
  keepalive_s: 600
  services:
YAML
  local s
  for s in "$@"; do echo "    - {name: $s, template: $s, tier: standard, service_time_s: 0.05}"; done
  cat <<YAML
agents:
  - node: {id: fra-1, region: frankfurt, latitude: 50.11, longitude: 8.68}
    orchestrator: 127.0.0.1:7400
    origin: http://127.0.0.1:8400
    capacity: {slots: 4, memory: 2GiB}
    addresses: {range: 127.77.1.0/24, port: 80, standby: 2}
    runtime: {kind: $runtime, cache_dir: /var/cache/prewarm}
    ready_timeout_s: 180
    templates:
YAML
  cat
}
# The `static` template (prewarm-httpd, index.html preloaded) as one_node_config's stdin
# wants it: a YAML list item indented by 6 spaces.
static_template() {
  cat <<'YAML'
      - name: static
        command: [/usr/bin/prewarm-httpd, --root, /srv/content]
        files: {"@prewarm-httpd": /usr/bin/prewarm-httpd}
        memory: 32MiB
        scratch: 16MiB
        preload: [index.html]
YAML
}
one_node() { curl -sf http://127.0.0.1:9400/healthz | grep -q "nodes=1"; }

require_root_and() {
  if [[ $(id -u) -ne 0 ]]; then
    echo "SKIP: needs root (runc, mounts, port 80 on 127.77.x.y)"
    exit 77
  fi
  for tool in "$@"; do
    if ! command -v "$tool" >/dev/null; then
      echo "SKIP: $tool not installed (tools/install-deps installs it)"
      exit 77
    fi
  done
}

# Writes FILE: two hours of 1-s history up to NOW for (virginia, static), 5 requests/s
# and 400/s for PEAK_LEN seconds every hour, one of those peaks starting at PEAK.
#   hourly_peak_history FILE NOW PEAK PEAK_LEN
hourly_peak_history() {
  python3 - "$@" <<'PY'
import sys
path, now, peak, length = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
with open(path, "w") as f:
    f.write("timestamp,region,template,count\n")
    for t in range(now - 7300, now):
        f.write(f"{t},virginia,static,{400 if (t - peak) % 3600 < length else 5}\n")
PY
}
