# A private docker registry for tests and benchmarks: Debian's docker-registry on
# 127.0.0.1, a free port, its config and storage under a directory of the caller's.
# Source it; needs docker-registry, curl and python3.
#   start_registry DIR   sets REGISTRY_PORT and REGISTRY_PID; 1 if it does not answer
#   stop_registry
REGISTRY_PID=
start_registry() {
  local dir=$1
  REGISTRY_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  mkdir -p "$dir/registry"
  cat >"$dir/registry.yml" <<YAML
version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: $dir/registry}
  delete: {enabled: true}
http:
  addr: 127.0.0.1:$REGISTRY_PORT
YAML
  docker-registry serve "$dir/registry.yml" >"$dir/registry.log" 2>&1 &
  REGISTRY_PID=$!
  local _
  for _ in $(seq 200); do
    curl -sf "http://127.0.0.1:$REGISTRY_PORT/v2/" >/dev/null && return 0
    sleep 0.1
  done
  return 1
}
stop_registry() {
  if [[ -n $REGISTRY_PID ]]; then
    kill "$REGISTRY_PID" 2>/dev/null
    wait "$REGISTRY_PID" 2>/dev/null || true  # its SIGTERM status is no failure
  fi
  REGISTRY_PID=
  return 0
}

# build_test_image LAYOUT BUNDLE HTTPD: an OCI image layout at LAYOUT built with umoci from
# what is on this machine (busybox-static, prewarm-httpd at HTTPD; no download), in two
# layers: the first has busybox, prewarm-httpd, users root and web (4242:4343), files under
# /www and a CGI script /www/cgi-bin/who (the uid, gid, env and start dir it runs with);
# the second rewrites index.html and deletes www/secret.txt and www/old/ (whiteouts).
# Tags: web (prewarm-httpd, socket-activated, as web in /www with GREETING=from-image) and
# own (busybox httpd listening on its own port 8080, exposed).
build_test_image() {
  local L=$1 B=$2 httpd=$3
  local R=$B/rootfs
  umoci init --layout "$L" && umoci new --image "$L:web" && umoci unpack --image "$L:web" "$B" >/dev/null
  mkdir -p "$R/bin" "$R/usr/bin" "$R/etc" "$R/www/old" "$R/www/old2" "$R/www/cgi-bin"
  cp /bin/busybox "$R/bin/busybox" && ln -s busybox "$R/bin/sh"
  cp "$httpd" "$R/usr/bin/prewarm-httpd"
  printf 'root:x:0:0:root:/root:/bin/sh\nweb:x:4242:4343:web:/www:/bin/sh\n' >"$R/etc/passwd"
  printf 'root:x:0:\nweb:x:4343:\n' >"$R/etc/group"
  echo "first layer" >"$R/www/index.html"
  echo "secret of the first layer" >"$R/www/secret.txt"
  echo "old" >"$R/www/old/a.txt"
  echo "old2" >"$R/www/old2/a.txt"
  cat >"$R/www/cgi-bin/who" <<'SH'
#!/bin/sh
echo "Content-Type: text/plain"
echo
secret=absent; [ -e /www/secret.txt ] && secret=present
old2=absent; [ -e /www/old2/a.txt ] && old2=present
echo "uid=$(busybox id -u) gid=$(busybox id -g) start_dir=$START_DIR greeting=$GREETING secret=$secret old2=$old2"
SH
  chmod 0755 "$R/www/cgi-bin/who"
  umoci repack --refresh-bundle --image "$L:web" "$B" &&
    rm "$R/www/secret.txt" && rm -r "$R/www/old" &&
    echo "hello from an OCI image" >"$R/www/index.html" &&
    umoci repack --image "$L:web" "$B" &&
    umoci config --image "$L:web" --config.entrypoint /usr/bin/prewarm-httpd --config.cmd=--root \
      --config.cmd=/www --config.user web --config.workingdir /www --config.env GREETING=from-image &&
    # The same layers, but an app that listens on a port of its own (busybox httpd on 8080).
    umoci config --image "$L:web" --tag own --config.entrypoint /bin/busybox --config.cmd=httpd \
      --config.cmd=-f --config.cmd=-p --config.cmd=8080 --config.cmd=-h --config.cmd=/www \
      --config.exposedports 8080/tcp
}

# image_template NAME IMAGE [ENV]: one of one_node_config's `templates:` items (6 spaces in)
# naming no command: IMAGE's entrypoint + cmd, ENV (a YAML map) over the image's env.
image_template() {
  echo "      - name: $1"
  echo "        image: $2"
  [[ -n ${3:-} ]] && echo "        env: $3"
  printf '        memory: 32MiB\n        scratch: 16MiB\n        probe: /index.html\n'
}

# check_test_image_served ADDR: an instance of build_test_image's image at ADDR serves its
# second layer's index.html, and what that layer deleted (a file, a directory) is gone.
check_test_image_served() {
  local addr=$1 body
  body=$(curl -s --max-time 180 --retry 0 "http://$addr/")
  check "GET / right after the cold answer is the image's second-layer index.html ($body)" \
    bash -c "[[ '$body' == 'hello from an OCI image' ]]"
  check "a file the second layer deleted is gone (whiteout): 404" \
    bash -c "[[ \$(curl -s -o /dev/null -w '%{http_code}' --max-time 20 http://$addr/secret.txt) == 404 ]]"
  check "a directory the second layer deleted is gone: 404" \
    bash -c "[[ \$(curl -s -o /dev/null -w '%{http_code}' --max-time 20 http://$addr/old/a.txt) == 404 ]]"
  check "a file the second layer kept is served: 200" \
    bash -c "[[ \$(curl -s -o /dev/null -w '%{http_code}' --max-time 20 http://$addr/old2/a.txt) == 200 ]]"
}
