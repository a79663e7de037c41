#!/usr/bin/env bash
# End to end: the `api` template (examples/templates/api.yaml: a Python program from
# Debian's python3 packages, as content-addressed layers) behind the orchestrator's DNS
# name api.edge.example, under the runtime given (oci or qemu), checked with kdig and curl.
# The first run downloads the python3 closure (~40 packages) into /var/cache/prewarm.
# With "install", python3 is not pre-built: each api instance installs it at start with
# its own dpkg (install_packages, as examples/templates/api-install.yaml).
# Usage: api_test.sh PATH/TO/prewarm oci|qemu [install]
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
source "$HERE/lib.sh"
PREWARM=${1:?usage: api_test.sh PATH/TO/prewarm oci|qemu [install]}
RUNTIME=${2:?usage: api_test.sh PATH/TO/prewarm oci|qemu [install]}
PACKAGES=packages WAIT=120
if [[ ${3:-} == install ]]; then PACKAGES=install_packages WAIT=400; fi
if [[ $RUNTIME == qemu ]]; then require_root_and qemu-system-x86_64 mkfs.erofs kdig curl apt-get
else require_root_and runc kdig curl apt-get; fi

CONFIG=$(mktemp /tmp/prewarm-e2e-api.XXXXXX.yaml)
one_node_config "$RUNTIME" "" static api >"$CONFIG" <<YAML
$(static_template)
      - name: api
        command: [/usr/bin/python3, /opt/api/api.py]
        files: {"$REPO/examples/templates/api/api.py": /opt/api/api.py}
        $PACKAGES: [python3]
        memory: 64MiB
        scratch: 16MiB
        probe: /healthz
YAML
LOG=$(mktemp /tmp/prewarm-e2e-api.XXXXXX.log)
start_up "$LOG" --config "$CONFIG"
check "prewarm up ($RUNTIME) comes up with the api template built ($PACKAGES)" wait_until 400 one_node
stop_if_failed "$LOG"
API=$(kdig @127.0.0.1 -p 5353 +short api.edge.example A | head -1)
check "api.edge.example answers an instance address ($API)" bash -c "[[ '$API' == 127.77.1.* ]]"
TIME=$(curl -s --max-time $WAIT --retry 0 "http://$API/api/time")
check "GET /api/time right after the cold answer is served by the Python program ($PACKAGES; $TIME)" \
  bash -c "grep -q '\"unix\": [0-9]' <<<'$TIME'"
check "the program sees its query string" \
  bash -c "curl -sf --max-time 30 'http://$API/api/echo?x=edge' | grep -q '\"x\": \[\"edge\"\]'"
STATIC=$(kdig @127.0.0.1 -p 5353 +short static.edge.example A | head -1)
check "static.edge.example is another instance ($STATIC) serving index.html" \
  bash -c "[[ '$STATIC' != '$API' ]] && curl -sf --max-time 120 http://$STATIC/ | grep -q 'prewarmed edge instance'"
stop_up
trap - EXIT
rm -f "$CONFIG"
if ((FAILED > 0)); then tail -40 "$LOG"; fi
finish
