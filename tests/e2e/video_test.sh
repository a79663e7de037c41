#!/usr/bin/env bash
# End to end: the `video` template (examples/templates/video.yaml: nginx + ffmpeg from
# Debian's packages) behind video.edge.example under the runtime given (oci or qemu). The
# origin serves a real H.264 source (made here with the template's own ffmpeg, run from
# its layers in a chroot); the instance preloads it, segments it into HLS at start, and the
# first playlist and segment requests are answered from local files.
# The first run downloads the nginx-light + ffmpeg closure (~250 packages).
# Usage: video_test.sh PATH/TO/prewarm oci|qemu
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
source "$HERE/lib.sh"
PREWARM=${1:?usage: video_test.sh PATH/TO/prewarm oci|qemu}
RUNTIME=${2:?usage: video_test.sh PATH/TO/prewarm oci|qemu}
if [[ $RUNTIME == qemu ]]; then require_root_and qemu-system-x86_64 mkfs.erofs kdig curl apt-get
else require_root_and runc kdig curl apt-get; fi
CACHE=/var/cache/prewarm
WORK=$(mktemp -d /tmp/prewarm-e2e-video.XXXXXX)
cleanup_work() {
  umount "$WORK/root/dev/null" 2>/dev/null
  rm -rf "$WORK"
}

# The template's layers (top first), as `prewarm image build` lists them.
if ! (cd "$REPO" && "$PREWARM" image build examples/templates/video.yaml --cache "$CACHE") >"$WORK/build.log" 2>&1; then
  cat "$WORK/build.log"
  fail "prewarm image build examples/templates/video.yaml"
  finish
  exit 1
fi
pass "prewarm image build video: $(tail -1 "$WORK/build.log")"
LAYERS=$(awk '/MB  / {print "'"$CACHE"'/" $3}' "$WORK/build.log" | tac)

# A 6-second H.264 test pattern, encoded by the template's ffmpeg in a chroot of its
# layers merged (bottom first; hard links, or copies across filesystems).
mkdir -p "$WORK/root/dev" "$WORK/root/out" "$WORK/origin/video"
for l in $LAYERS; do
  cp -a --link --remove-destination "$l/." "$WORK/root/" 2>/dev/null || cp -a --remove-destination "$l/." "$WORK/root/"
done
touch "$WORK/root/dev/null" && mount --bind /dev/null "$WORK/root/dev/null"
chroot "$WORK/root" /usr/bin/ffmpeg -nostdin -hide_banner -loglevel error -f lavfi \
  -i testsrc=duration=6:size=320x240:rate=25 -c:v libx264 -pix_fmt yuv420p -g 50 /out/source.mp4
umount "$WORK/root/dev/null"
cp "$WORK/root/out/source.mp4" "$WORK/origin/video/source.mp4"
check "the template's ffmpeg made a source video ($(stat -c %s "$WORK/origin/video/source.mp4" 2>/dev/null) bytes)" \
  test -s "$WORK/origin/video/source.mp4"

CONFIG=$WORK/up.yaml
one_node_config "$RUNTIME" "$WORK/origin" video >"$CONFIG" <<YAML
      - name: video
        command: [/bin/sh, /opt/video/start.sh]
        files:
          "$REPO/examples/templates/video/start.sh": /opt/video/start.sh
          "$REPO/examples/templates/video/nginx.conf.in": /opt/video/nginx.conf.in
        packages: [nginx-light, ffmpeg]
        memory: 256MiB
        pids: 64
        scratch: 256MiB
        probe: /hls/index.m3u8
        preload: [video/source.mp4]
YAML
LOG=$WORK/up.log
start_up "$LOG" --config "$CONFIG"
trap 'stop_up; cleanup_work' EXIT
check "prewarm up ($RUNTIME) comes up with the video template" wait_until 300 one_node
V=$(kdig @127.0.0.1 -p 5353 +short video.edge.example A | head -1)
check "video.edge.example answers an instance address ($V)" bash -c "[[ '$V' == 127.77.1.* ]]"
PLAYLIST=$(curl -s --max-time 180 --retry 0 "http://$V/hls/index.m3u8")
check "the HLS playlist, right after the cold answer, lists segments" \
  bash -c "grep -q '^#EXTM3U' <<<'$PLAYLIST' && grep -q '^seg000.ts' <<<'$PLAYLIST' && grep -q '#EXT-X-ENDLIST' <<<'$PLAYLIST'"
check "nginx serves the playlist as HLS" \
  bash -c "curl -sI --max-time 30 http://$V/hls/index.m3u8 | grep -qi 'content-type: application/vnd.apple.mpegurl'"
check "the first segment is MPEG-TS (sync byte 0x47 every 188 bytes)" \
  bash -c "curl -s --max-time 30 http://$V/hls/seg000.ts | od -An -tx1 -j 188 -N 1 | grep -q 47"
stop_up
trap - EXIT
if ((FAILED > 0)); then tail -40 "$LOG"; fi
cleanup_work
finish
