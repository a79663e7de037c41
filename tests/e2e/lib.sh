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
  if "$@"; then pass "$what"; else fail "$what"; fi
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
