#!/usr/bin/env bash
# End to end: the QEMU jail (runtime.jail). `prewarm up` with one qemu agent serves a
# cold query from a clone; then, from the host, each rule of the jail is checked on that
# instance's QEMU process by trying what it forbids:
#   - QEMU is not root: its uids are its slot's own unprivileged host id;
#   - QEMU's seccomp filter is on (Seccomp: 2) with no_new_privs;
#   - it sees no host process: its /proc lists its own pid namespace (pid 1) only;
#   - it reaches no host path: /etc/shadow, the agent's cache and state are not in its root,
#     and as its user, in its mount namespace, it cannot write its root filesystem;
#   - it reaches no host network: from its network namespace a service on the host's
#     127.0.0.1 is unreachable;
#   - it runs in a cgroup of its own (prewarm/qemu-<node>/<instance>) whose memory and
#     pids limits are set (read back from the cgroup files), and the group goes with it.
# Then the control: the same agent with `jail: false` (QEMU as before: root, no sandbox)
# and every check must fail, so none of them passes by construction.
# Usage: qemu_jail_test.sh PATH/TO/prewarm
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
PREWARM=${1:?usage: qemu_jail_test.sh PATH/TO/prewarm}
require_root_and qemu-system-x86_64 mkfs.erofs kdig curl nsenter python3 unshare
# A network namespace of its own: its ports clash with nothing, and "the host's network"
# below is this namespace.
if [[ -z ${PREWARM_E2E_NETNS:-} ]]; then
  PREWARM_E2E_NETNS=1 exec unshare --net bash "$0" "$@"
fi
ip link set lo up

# A host service the jailed QEMU must not reach.
HOST_PORT=18931
python3 -m http.server --bind 127.0.0.1 "$HOST_PORT" --directory /tmp >/dev/null 2>&1 &
HOST_SERVICE=$!
CONFIG=$(mktemp /tmp/prewarm-e2e-jail.XXXXXX.yaml)
LOG=$(mktemp /tmp/prewarm-e2e-jail.XXXXXX.log)
cleanup() {
  stop_up
  kill "$HOST_SERVICE" 2>/dev/null
  rm -f "$CONFIG" /prewarm-jail-escape
}
trap cleanup EXIT

# The instance's QEMU (not a template VM's): its pid, once it runs.
qemu_pid() { pgrep -f -- '^qemu-system-x86_64 -name prewarm-fra-1-static' | head -1; }

# Each rule, as a command that succeeds when the rule holds for QEMU process $1.
not_root() {
  local uids
  uids=$(awk '/^Uid:/ {print $2, $3, $4, $5}' "/proc/$1/status")
  [[ -n $uids ]] && ! grep -qw 0 <<<"$uids" && (($(cut -d' ' -f1 <<<"$uids") >= 1000000))
}
seccomp_on() { grep -q $'^Seccomp:\t2' "/proc/$1/status" && grep -q $'^NoNewPrivs:\t1' "/proc/$1/status"; }
no_host_pids() {
  local pids
  pids=$(ls "/proc/$1/root/proc" | grep -E '^[0-9]+$' | tr '\n' ' ')
  [[ $pids == "1 " ]]
}
no_host_paths() {
  local root=/proc/$1/root uid
  uid=$(awk '/^Uid:/ {print $2}' "/proc/$1/status")
  # Only what QEMU opens is bound in, at its host path: not the host's secrets, not the
  # layers' files, not the agent's other state.
  [[ ! -e $root/etc/shadow && ! -e $root/root && ! -e $root/var/cache/prewarm/layers ]] &&
    [[ $(ls "$root/run/prewarm/fra-1") == instances && $(ls "$root/run/prewarm/fra-1/instances" | wc -l) == 1 ]] &&
    ! nsenter --target "$1" --mount --root --wd=/ --setuid "$uid" --setgid "$uid" \
      /usr/bin/touch /prewarm-jail-escape 2>/dev/null
}
no_host_network() {
  ! nsenter --target "$1" --net curl -s --max-time 3 -o /dev/null "http://127.0.0.1:$HOST_PORT/"
}
# The group's directory for controller $2 (v1: a tree per controller; v2: one tree).
cgroup_dir() {
  local path
  path=$(awk -F: -v c="$2" '{n = split($2, cs, ","); for (i = 1; i <= n; i++) if (cs[i] == c) print $3}' "/proc/$1/cgroup")
  if [[ -n $path ]]; then echo "/sys/fs/cgroup/$2$path"; else echo "/sys/fs/cgroup$(awk -F: '$1 == 0 {print $3}' "/proc/$1/cgroup")"; fi
}
own_cgroup() {
  local mem pids limit
  mem=$(cgroup_dir "$1" memory)
  pids=$(cgroup_dir "$1" pids)
  limit=$(cat "$mem/memory.max" 2>/dev/null || cat "$mem/memory.limit_in_bytes")
  echo "QEMU $1: $mem memory limit $limit, $(cat "$pids/pids.current") of $(cat "$pids/pids.max") pids"
  [[ $mem == */prewarm/qemu-fra-1/fra-1* && $pids == */prewarm/qemu-fra-1/fra-1* ]] &&
    [[ $limit =~ ^[0-9]+$ ]] && ((limit < 1 << 40)) && [[ $(cat "$pids/pids.max") =~ ^[0-9]+$ ]]
}
RULES=(not_root seccomp_on no_host_pids no_host_paths no_host_network own_cgroup)
broken() { ! "$@"; }

# run_agent JAIL: prewarm up with one qemu agent (jail: JAIL), a cold query and its GET;
# leaves QEMU_PID set to the instance's QEMU.
run_agent() {
  one_node_config "qemu, jail: $1, snapshot: $2" "" static >"$CONFIG" <<YAML
$(static_template)
YAML
  start_up "$LOG" --config "$CONFIG"
  trap cleanup EXIT
  check "prewarm up (qemu, jail: $1) comes up" wait_until 300 one_node
  stop_if_failed "$LOG"
  local a
  a=$(kdig @127.0.0.1 -p 5353 +short static.edge.example A | head -1)
  check "jail: $1: a cold GET is served by the VM ($a)" \
    bash -c "curl -sf --max-time 180 --retry 0 http://$a/ | grep -q 'prewarmed edge instance'"
  QEMU_PID=$(qemu_pid)
  check "jail: $1: the instance's QEMU runs (pid ${QEMU_PID:-none})" test -n "$QEMU_PID"
}

check "the host service answers on the host" \
  wait_until 10 curl -s --max-time 2 -o /dev/null "http://127.0.0.1:$HOST_PORT/"

# Jailed (the default), as a clone of its template's snapshot.
run_agent true clone
for rule in "${RULES[@]}"; do
  check "jailed QEMU: $rule" "$rule" "$QEMU_PID"
done
echo "the jailed QEMU's root (without /usr and /proc):"
(cd "/proc/$QEMU_PID/root" && find . -maxdepth 7 -not -path './usr/*' -not -path './proc/*' | head -40)
check "jailed QEMU is pid 1 of its namespace" bash -c "grep -q $'^NSpid:\t$QEMU_PID\t1$' /proc/$QEMU_PID/status"
stop_up
check "no QEMU outlives the jailed agent" bash -c "[[ -z \$(pgrep -f -- '^qemu-system-x86_64 -name prewarm-fra-1') ]]"
check "no QEMU cgroup outlives the jailed agent" \
  bash -c "! ls -d /sys/fs/cgroup/prewarm/qemu-fra-1 /sys/fs/cgroup/*/prewarm/qemu-fra-1 2>/dev/null"

# The control: unjailed, every rule is broken.
run_agent false none
for rule in "${RULES[@]}"; do
  check "control, unjailed QEMU: $rule fails" broken "$rule" "$QEMU_PID"
done
rm -f /prewarm-jail-escape
stop_up
trap - EXIT
cleanup
if ((FAILED > 0)); then tail -60 "$LOG"; fi
finish
