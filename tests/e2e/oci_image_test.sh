#!/usr/bin/env bash
# End to end: OCI images as templates under runc. The test starts Debian's docker-registry
# on 127.0.0.1 (a free port, its config and storage in a temp dir), builds a small image
# with umoci from what is on this machine (busybox-static, prewarm-httpd; no download),
# two layers of which the second deletes files of the first (whiteouts), pushes it with
# skopeo, and serves it through `prewarm up` from three templates: one naming the registry
# (docker://), one an archive of the same image (oci-archive:), both socket-activated
# (prewarm-httpd), and one whose app listens on its own port (busybox httpd on 8080,
# relayed by the agent). The image's entrypoint, cmd, user, working dir, env and exposed
# port are the instance's; the templates name no command.
# Then `prewarm image pull/ls/gc` on the node's cache, and the errors a user can cause.
# Usage: oci_image_test.sh PATH/TO/prewarm
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
source "$HERE/registry_lib.sh"
PREWARM=${1:?usage: oci_image_test.sh PATH/TO/prewarm}
require_root_and runc kdig curl skopeo umoci docker-registry python3
HTTPD=$(dirname "$PREWARM")/prewarm-httpd
[[ -x $HTTPD ]] || { echo "SKIP: $HTTPD not built"; exit 77; }

WORK=$(mktemp -d /tmp/prewarm-e2e-oci.XXXXXX)
CACHE=$WORK/cache
cleanup() {
  stop_up 2>/dev/null
  stop_registry
  rm -rf "$WORK"
}
trap cleanup EXIT

# --- The registry.
check "docker-registry serves on 127.0.0.1" start_registry "$WORK"
stop_if_failed "$WORK/registry.log"
PORT=$REGISTRY_PORT

# --- The image (registry_lib.sh): layer 1 busybox, prewarm-httpd, users, files; layer 2
# deletes two of them; tags web (socket-activated) and own (its own port 8080).
L=$WORK/layout
build_test_image "$L" "$WORK/bundle" "$HTTPD"
check "umoci built a two-layer image from local files" \
  bash -c "umoci stat --image '$L:web' | grep -c 'sha256:' | awk '\$1 >= 2 {ok=1} END {exit !ok}'"
REF=docker://127.0.0.1:$PORT/prewarm-test/web:1
OWN=docker://127.0.0.1:$PORT/prewarm-test/own:1
check "skopeo pushed both to the registry" \
  bash -c "skopeo copy --dest-tls-verify=false 'oci:$L:web' '$REF' && skopeo copy --dest-tls-verify=false 'oci:$L:own' '$OWN'"
skopeo copy "oci:$L:web" "oci-archive:$WORK/web.tar" >/dev/null
check "the image is also an OCI archive" test -s "$WORK/web.tar"

# --- prewarm up with two image templates (no command: the image's entrypoint + cmd).
CONFIG=$WORK/up.yaml
{
  image_template web "$REF"
  image_template webarc "oci-archive:$WORK/web.tar" "{GREETING: from-template}"
  image_template own "$OWN"
} | one_node_config oci "" web webarc own | sed "s|cache_dir: /var/cache/prewarm|cache_dir: $CACHE|" >"$CONFIG"
LOG=$WORK/up.log
start_up "$LOG" --config "$CONFIG"
trap cleanup EXIT
check "prewarm up pulls both images and comes up" wait_until 120 one_node
stop_if_failed "$LOG"
WEB=$(kdig @127.0.0.1 -p 5353 +short web.edge.example A | head -1)
check "web.edge.example answers an instance address ($WEB)" bash -c "[[ '$WEB' == 127.77.1.* ]]"
check_test_image_served "$WEB"
# A python3 expression over an instance's config.json (`c`) holds for some instance;
# argv(c) is the workload's own command line, after `prewarm-seccomp-exec FILTER
# [--notify-fd N] --`.
some_spec() {
  python3 - "$1" /run/prewarm/fra-1/instances/*/config.json <<'PY'
import json, sys
def argv(c):
    a = c["process"]["args"]
    if not a or not a[0].endswith("/prewarm-seccomp-exec"): return a
    return a[a.index("--") + 1:]
ok = any(eval("(" + sys.argv[1] + ")", {"c": json.load(open(f)), "argv": argv}) for f in sys.argv[2:])
sys.exit(0 if ok else 1)
PY
}
check "the instance runs the image's entrypoint + cmd as its user, in its working dir, with its env" \
  some_spec 'argv(c) == ["/usr/bin/prewarm-httpd", "--root", "/www"] and
             c["process"]["user"] == {"uid": 4242, "gid": 4343} and c["process"]["cwd"] == "/www" and
             any(e.startswith("GREETING=from-") for e in c["process"]["env"])'
ARC=$(kdig @127.0.0.1 -p 5353 +short webarc.edge.example A | head -1)
check "webarc.edge.example (oci-archive:) serves the same image ($ARC)" \
  bash -c "[[ '$ARC' != '$WEB' ]] && [[ \$(curl -s --max-time 60 http://$ARC/) == 'hello from an OCI image' ]]"
OWNADDR=$(kdig @127.0.0.1 -p 5353 +short own.edge.example A | head -1)
OWNBODY=$(curl -s --max-time 60 --retry 0 "http://$OWNADDR/")
check "own.edge.example: busybox httpd on its own port 8080, served at $OWNADDR:80 ($OWNBODY)" \
  bash -c "[[ '$OWNBODY' == 'hello from an OCI image' ]]"
check "the own-port instance was not handed a socket (no LISTEN_FDS), has its own network namespace, and its bind() goes to the agent" \
  some_spec 'argv(c)[:2] == ["/bin/busybox", "httpd"] and
             not any(e.startswith("LISTEN_FDS=") for e in c["process"]["env"]) and
             c["process"]["args"][2:4] == ["--notify-fd", "3"] and
             any(n["type"] == "network" and "path" in n for n in c["linux"]["namespaces"])'
# Counted at the agent's next heartbeat.
own_handed() {
  curl -s http://127.0.0.1:9430/metrics |
    grep -Eq '^prewarm_agent_port_handoffs_total\{.*template="own".*\} [1-9]'
}
check "busybox httpd's bind() of 8080 got the instance's socket (agent /metrics), nothing relays" \
  wait_until 15 own_handed
check "ten requests in a row to the own-port app all succeed" \
  bash -c "for i in \$(seq 10); do [[ \$(curl -s --max-time 10 http://$OWNADDR/index.html) == 'hello from an OCI image' ]] || exit 1; done"
check "the template's env wins over the image's" \
  bash -c "grep -l 'GREETING=from-template' /run/prewarm/fra-1/instances/*/config.json | grep -q . &&
           grep -l 'GREETING=from-image' /run/prewarm/fra-1/instances/*/config.json | grep -q ."
stop_up
trap cleanup EXIT
if ((FAILED > 0)); then tail -40 "$LOG"; fi

# --- prewarm image pull / ls / gc on the node's cache.
LS=$("$PREWARM" image ls --cache "$CACHE")
check "image ls lists the images with their sizes" \
  bash -c "grep -q 'MB  $REF  2 layers' <<<'$LS' && grep -q 'MB  $OWN  2 layers' <<<'$LS' &&
           grep -q 'MB  oci-archive:$WORK/web.tar  2 layers' <<<'$LS'"
check "the three images share their layers in the cache (2 image layers)" \
  bash -c "[[ \$(ls -d '$CACHE'/oci-* | wc -l) == 2 ]]"
check "image pull pulls again and prints its layers" \
  bash -c "'$PREWARM' image pull --cache '$CACHE' '$REF' 2>&1 | grep -q '^$REF: 2 layers'"
MISSING=$("$PREWARM" image pull --cache "$CACHE" "docker://127.0.0.1:$PORT/prewarm-test/missing:1" 2>&1)
check "pulling an image the registry does not have fails with a clear error" \
  bash -c "grep -q 'pulling docker://127.0.0.1:$PORT/prewarm-test/missing:1' <<<'$MISSING' && ! '$PREWARM' image pull --cache '$CACHE' docker://127.0.0.1:$PORT/prewarm-test/missing:1 >/dev/null 2>&1"
BAD=$("$PREWARM" image pull --cache "$CACHE" "docker://web:1" 2>&1)
check "a reference without a registry host is refused" bash -c "grep -q 'no registry host' <<<'$BAD'"
head -c 4096 "$WORK/web.tar" >"$WORK/broken.tar"
BROKEN=$("$PREWARM" image pull --cache "$CACHE" "oci-archive:$WORK/broken.tar" 2>&1)
check "a truncated archive is a clear error ($(tail -1 <<<"$BROKEN" | cut -c1-80))" \
  bash -c "grep -q 'pulling oci-archive:$WORK/broken.tar' <<<'$BROKEN'"
cat >"$WORK/keep.yaml" <<YAML
name: web
image: $REF
YAML
GC=$("$PREWARM" image gc --cache "$CACHE" --keep "$WORK/keep.yaml")
check "image gc keeps the kept template's image and forgets the others" \
  bash -c "grep -q 'removed image oci-archive:$WORK/web.tar' <<<'$GC' && grep -q 'removed image $OWN' <<<'$GC' &&
           ! grep -q 'removed image $REF' <<<'$GC' &&
           '$PREWARM' image ls --cache '$CACHE' | grep -q '$REF' && [[ \$(ls -d '$CACHE'/oci-* | wc -l) == 2 ]]"

cleanup
trap - EXIT
finish
