#!/usr/bin/env bash
# End to end: OCI images as templates under QEMU. Like oci_image_test.sh (Debian's
# docker-registry on 127.0.0.1, an image built with umoci from local files and pushed with
# skopeo), served through `prewarm up` by a qemu agent (jailed, clones of each template's
# snapshot) from two templates that name no command:
#   web  the image's prewarm-httpd, socket-activated, as the image's user in its workdir;
#   who  the same layers plus a third (an opaque directory), busybox httpd listening on its
#        own port 8080 (the image's exposed port, reached through slirp's forward), started
#        by `sh` looked up on the image's PATH; its CGI script says, from inside the guest,
#        which uid, gid, start dir and env the app got and which whited-out files it sees.
# Each template's layers become erofs disks stacked by the guest's overlayfs, which honours
# the layers' whiteouts (deleted file, deleted directory, opaque directory).
# Usage: oci_image_qemu_test.sh PATH/TO/prewarm
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
source "$HERE/registry_lib.sh"
PREWARM=${1:?usage: oci_image_qemu_test.sh PATH/TO/prewarm}
require_root_and qemu-system-x86_64 mkfs.erofs kdig curl skopeo umoci docker-registry python3
HTTPD=$(dirname "$PREWARM")/prewarm-httpd
[[ -x $HTTPD ]] || { echo "SKIP: $HTTPD not built"; exit 77; }

WORK=$(mktemp -d /tmp/prewarm-e2e-oci-qemu.XXXXXX)
# A cache of its own (its images and layers go with the test), sharing the guest kernel
# the other qemu tests fetch into the default cache.
CACHE=$WORK/cache
mkdir -p "$CACHE" /var/cache/prewarm/kernel
ln -s /var/cache/prewarm/kernel "$CACHE/kernel"
cleanup() {
  stop_up 2>/dev/null
  stop_registry
  rm -rf "$WORK"
}
trap cleanup EXIT

check "docker-registry serves on 127.0.0.1" start_registry "$WORK"
stop_if_failed "$WORK/registry.log"
PORT=$REGISTRY_PORT

L=$WORK/layout
build_test_image "$L" "$WORK/bundle" "$HTTPD"
# who: tag own plus a layer whose www/old2 is opaque (it hides the first layer's a.txt and
# holds new.txt), the app started through the shell (found on PATH), in /www as web.
mkdir -p "$WORK/opq/www/old2"
: >"$WORK/opq/www/old2/.wh..wh..opq"
echo "new in the third layer" >"$WORK/opq/www/old2/new.txt"
tar -C "$WORK/opq" -cf "$WORK/opq.tar" www
umoci raw add-layer --image "$L:own" --tag who "$WORK/opq.tar" &&
  umoci config --image "$L:who" --config.entrypoint sh --config.cmd=-c \
    --config.cmd='export START_DIR=$(pwd); exec busybox httpd -f -p 8080 -h /www' \
    --config.user web --config.workingdir /www --config.env GREETING=from-image
check "umoci built the images (who: three layers)" \
  bash -c "umoci stat --image '$L:who' | grep -c 'sha256:' | awk '\$1 >= 3 {ok=1} END {exit !ok}'"
REF=docker://127.0.0.1:$PORT/prewarm-test/web:1
WHO=docker://127.0.0.1:$PORT/prewarm-test/who:1
check "skopeo pushed both to the registry" \
  bash -c "skopeo copy --dest-tls-verify=false 'oci:$L:web' '$REF' >/dev/null && skopeo copy --dest-tls-verify=false 'oci:$L:who' '$WHO' >/dev/null"

CONFIG=$WORK/up.yaml
{
  image_template web "$REF"
  image_template who "$WHO" "{GREETING: from-template}"
} | one_node_config qemu "" web who | sed "s|cache_dir: /var/cache/prewarm|cache_dir: $CACHE|" >"$CONFIG"
LOG=$WORK/up.log
start_up "$LOG" --config "$CONFIG"
trap cleanup EXIT
# Up, or gone (an error at start): no waiting out the deadline for a process that exited.
up_or_gone() { ! kill -0 "$UP_PID" 2>/dev/null || one_node; }
wait_until 300 up_or_gone
check "prewarm up (qemu) pulls both images and comes up" one_node
stop_if_failed "$LOG"

WEB=$(kdig @127.0.0.1 -p 5353 +short web.edge.example A | head -1)
check "web.edge.example answers an instance address ($WEB)" bash -c "[[ '$WEB' == 127.77.1.* ]]"
# Served from the VM: its erofs layers, stacked by the guest's overlayfs.
check_test_image_served "$WEB"

OWN=$(kdig @127.0.0.1 -p 5353 +short who.edge.example A | head -1)
OWNBODY=$(curl -s --max-time 180 --retry 0 "http://$OWN/")
check "who.edge.example: busybox httpd on its own port 8080 in the VM, from $OWN:80 ($OWNBODY)" \
  bash -c "[[ '$OWNBODY' == 'hello from an OCI image' ]]"
check "slirp's forward goes to the image's exposed port 8080" \
  bash -c "pgrep -af -- '[q]emu-system-x86_64 -name prewarm-fra-1-who' | grep -q 'hostfwd=tcp:$OWN:18080-:8080'"
WHOAMI=$(curl -s --max-time 20 "http://$OWN/cgi-bin/who")
check "inside the guest the app runs as the image's user, in its workdir, with the template's env over the image's ($WHOAMI)" \
  bash -c "grep -q '^uid=4242 gid=4343 start_dir=/www greeting=from-template ' <<<'$WHOAMI'"
check "inside the guest the whited-out file and the opaque directory's old file are absent" \
  bash -c "grep -q ' secret=absent old2=absent$' <<<'$WHOAMI'"
check "the opaque directory holds the third layer's file" \
  bash -c "[[ \$(curl -s --max-time 20 http://$OWN/old2/new.txt) == 'new in the third layer' ]]"
check "and not the first layer's: 404" \
  bash -c "[[ \$(curl -s -o /dev/null -w '%{http_code}' --max-time 20 http://$OWN/old2/a.txt) == 404 ]]"
check "ten requests in a row through the forwarder all succeed" \
  bash -c "for i in \$(seq 10); do [[ \$(curl -s --max-time 10 http://$OWN/index.html) == 'hello from an OCI image' ]] || exit 1; done"
check "each image template was snapshotted once and its instance restored as a clone" \
  bash -c "(( \$(grep -c 'qemu runtime: template .* snapshotted' '$LOG') == 2 )) &&
           grep -q 'qemu runtime: fra-1-web-.* restored in' '$LOG' && grep -q 'qemu runtime: fra-1-who-.* restored in' '$LOG'"
check "the image layers became erofs disks in the cache" \
  bash -c "(( \$(ls '$CACHE'/erofs/oci-*.erofs | wc -l) == 3 ))"
stop_up
trap cleanup EXIT
if ((FAILED > 0)); then tail -40 "$LOG"; fi
cleanup
trap - EXIT
finish
