#!/usr/bin/env bash
# End to end: gVisor. `prewarm up` with one node whose runtime is `{kind: oci, binary:
# runsc}` (Debian's runsc) and a template, an OCI image built here with umoci, whose app
# listens on its own port (prewarm-httpd --listen 127.0.0.1:8080): the agent relays each connection into the instance's network
# namespace, where runsc's sandbox (--network=host) has the app's socket. Checked: DNS
# answers an instance address, GET returns the preloaded file, the container is runsc's
# and has no user namespace of ours, and Ctrl-C leaves no container behind.
# Usage: gvisor_test.sh PATH/TO/prewarm
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
PREWARM=${1:?usage: gvisor_test.sh PATH/TO/prewarm}
require_root_and runc runsc kdig curl python3 umoci skopeo

WORK=$(mktemp -d /tmp/prewarm-e2e-gvisor.XXXXXX)
trap 'stop_up 2>/dev/null; rm -rf "$WORK"' EXIT
# The template is an OCI image (busybox, prewarm-httpd) whose app listens on 8080 itself.
HTTPD=$(dirname "$PREWARM")/prewarm-httpd
L=$WORK/layout
B=$WORK/bundle
R=$B/rootfs
umoci init --layout "$L" && umoci new --image "$L:own" && umoci unpack --image "$L:own" "$B" >/dev/null
mkdir -p "$R/bin" "$R/usr/bin" "$R/srv"
cp /bin/busybox "$R/bin/busybox" && cp "$HTTPD" "$R/usr/bin/prewarm-httpd"
umoci repack --image "$L:own" "$B"
umoci config --image "$L:own" --config.entrypoint /usr/bin/prewarm-httpd \
  --config.cmd=--root --config.cmd=/srv/content --config.cmd=--listen \
  --config.cmd=127.0.0.1:8080 --config.exposedports 8080/tcp
check "umoci built the image, skopeo wrote it as an OCI archive" \
  skopeo copy "oci:$L:own" "oci-archive:$WORK/own.tar"
CONFIG=$WORK/up.yaml
mkdir -p "$WORK/origin" && echo "hello from gVisor" >"$WORK/origin/index.html"
one_node_config oci "$WORK/origin" own <<YAML |
      - name: own
        image: oci-archive:$WORK/own.tar
        memory: 64MiB
        scratch: 16MiB
        preload: [index.html]
YAML
  sed -e 's|runtime: {kind: oci,|runtime: {kind: oci, binary: runsc,|' \
    -e "s|cache_dir: /var/cache/prewarm|cache_dir: $WORK/cache|" >"$CONFIG"
LOG=$WORK/up.log
start_up "$LOG" --config "$CONFIG"
trap 'stop_up 2>/dev/null; rm -rf "$WORK"' EXIT
check "prewarm up comes up with a runsc node" wait_until 60 one_node
stop_if_failed "$LOG"
ADDR=$(kdig @127.0.0.1 -p 5353 +short own.edge.example A | head -1)
check "own.edge.example answers an instance address ($ADDR)" bash -c "[[ '$ADDR' == 127.77.1.* ]]"
BODY=$(curl -s --max-time 60 --retry 0 "http://$ADDR/index.html")
check "GET through the relay into gVisor returns the preloaded file ($BODY)" \
  bash -c "[[ '$BODY' == 'hello from gVisor' ]]"
RUNSC_ROOT=/run/prewarm/fra-1/runc
check "the instance is a runsc container" \
  bash -c "runsc --root $RUNSC_ROOT list --quiet | grep -q '^prewarm-'"
check "its config.json joins the agent's network namespace and has no user namespace" \
  python3 -c "
import glob, json, sys
c = [json.load(open(f)) for f in glob.glob('/run/prewarm/fra-1/instances/*/config.json')]
ns = [n for x in c for n in x['linux']['namespaces']]
sys.exit(0 if c and any(n['type'] == 'network' and 'path' in n for n in ns)
         and not any(n['type'] == 'user' for n in ns) else 1)"
check "ten requests in a row through the relay all succeed" \
  bash -c "for i in \$(seq 10); do [[ \$(curl -s --max-time 10 http://$ADDR/index.html) == 'hello from gVisor' ]] || exit 1; done"
stop_up
check "Ctrl-C leaves no runsc container" \
  bash -c "! runsc --root $RUNSC_ROOT list --quiet 2>/dev/null | grep -q '^prewarm-'"
if ((FAILED > 0)); then tail -40 "$LOG"; fi
finish
