#!/bin/sh
# The video template's workload: segment the preloaded source into HLS, then serve
# /srv with nginx on the socket the runtime handed over as fd 3 (PREWARM_LISTEN is its
# address; NGINX="3;" makes nginx adopt it instead of binding).
set -e
src=/srv/content/video/source.mp4
mkdir -p /srv/hls
if [ -f "$src" ]; then
  /usr/bin/ffmpeg -nostdin -hide_banner -loglevel error -i "$src" -c copy -f hls -hls_time 2 \
    -hls_playlist_type vod -hls_segment_filename /srv/hls/seg%03d.ts /srv/hls/index.m3u8
else
  echo "video: no preloaded $src: serving what the origin preloaded as is" >&2
fi
sed "s#@LISTEN@#${PREWARM_LISTEN:?the runtime must set PREWARM_LISTEN}#" /opt/video/nginx.conf.in >/tmp/nginx.conf
NGINX="3;" exec /usr/sbin/nginx -c /tmp/nginx.conf -e stderr
