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
