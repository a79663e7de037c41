#!/usr/bin/env bash
# An OCI image against the shipped `static` template of the same content and size, side by
# side in one run of instance_start_bench: the script starts Debian's docker-registry on
# 127.0.0.1 (a free port, config and storage in a temp dir), builds the image with umoci
# from the `static` template's own layers (busybox base + prewarm-httpd, so the same
# bytes), pushes it with skopeo, and runs
#   instance_start_bench --variants oci,oci-image,oci-relay --image REF --first K --n N
#                        --density 0 --wrk WRK
# which prints: warm-cache create -> HTTP 200 of both, and K times from an empty cache
# (layers built vs image pulled + unpacked, then the first instance), with the ratios.
# Needs root (runc, mounts). Figures: bench/instance_start/README.md.
#   sudo VARIANTS=qemu-clone,qemu-image bench/instance_start/oci_image.sh build/release 10 0 0
# runs the same image under QEMU (qemu-image) against the `static` template's clones.
# It also runs `oci-relay` (prewarm-httpd on its own port, handed the instance's socket at
# its bind(), the agent's default) and, with WRK > 0, Debian's wrk against a
# socket-activated and an own-port instance in alternating rounds (requests/s and p99,
# with the ratios); VARIANTS=oci,oci-relay,oci-relay-kernel,oci-relay-threads adds the
# kernel's and the thread's relays.
#   sudo bench/instance_start/oci_image.sh [BUILD_DIR] [N] [K] [WRK]
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$REPO/build/release}
N=${2:-20}
K=${3:-5}
WRK=${4:-10}  # seconds per wrk round (3 rounds each); 0: no load test
# The variants to run; VARIANTS=qemu-clone,qemu-image: the image under QEMU against the
# `static` template's clones (WRK applies to the oci variants only).
VARIANTS=${VARIANTS:-oci,oci-image,oci-relay}
# PAD_MB=45: a file of that many random MiB (incompressible) in the image and, as a layer
# of its own, in the `static` template: both grow to the issue's image size.
PAD_MB=${PAD_MB:-0}
PREWARM=$BUILD/bin/prewarm
BENCH=${BENCH:-$(find "$BUILD" -name instance_start_bench -type f -perm -u+x | head -1)}
for tool in skopeo umoci docker-registry python3 wrk; do
  command -v "$tool" >/dev/null || { echo "$tool not installed (tools/install-deps installs it)" >&2; exit 1; }
done
[[ -x $PREWARM && -n $BENCH ]] || { echo "build prewarm and instance_start_bench first" >&2; exit 1; }

WORK=$(mktemp -d /tmp/prewarm-bench-oci.XXXXXX)
source "$REPO/tests/e2e/registry_lib.sh"
cleanup() {
  stop_registry
  rm -rf "$WORK"
}
trap cleanup EXIT
start_registry "$WORK" || { echo "docker-registry did not answer" >&2; exit 1; }
PORT=$REGISTRY_PORT

# The static template's layers, as the agent builds them, become the image's one layer.
"$PREWARM" image build "$REPO/examples/templates.d/static.yaml" --cache "$WORK/cache" >/dev/null
L=$WORK/layout B=$WORK/bundle
umoci init --layout "$L"
umoci new --image "$L:static"
umoci unpack --image "$L:static" "$B" >/dev/null
cp -a "$WORK"/cache/base-*/. "$B/rootfs/"
cp -a "$WORK"/cache/static-*/. "$B/rootfs/"
PAD=()
if ((PAD_MB > 0)); then
  head -c $((PAD_MB << 20)) /dev/urandom >"$WORK/pad.bin"
  mkdir -p "$B/rootfs/opt" && cp "$WORK/pad.bin" "$B/rootfs/opt/pad.bin"
  PAD=(--pad "$WORK/pad.bin")
fi
umoci repack --image "$L:static" "$B"
umoci config --image "$L:static" --config.entrypoint /usr/bin/prewarm-httpd --config.cmd=--root \
  --config.cmd=/srv/content
REF=docker://127.0.0.1:$PORT/prewarm-bench/static:1
skopeo copy -q --dest-tls-verify=false "oci:$L:static" "$REF"
echo "image $REF: $(du -sb "$B/rootfs" | cut -f1) bytes unpacked, $(umoci stat --image "$L:static" | awk '/umoci repack/ {print $5}') compressed"
"$BENCH" --variants "$VARIANTS" --image "$REF" --first "$K" --n "$N" --density 0 --wrk "$WRK" "${PAD[@]}"
