#!/usr/bin/env bash
# End to end: `prewarm up` with the qemu runtime on tap networking (runtime.network: tap),
# in a network namespace of this test's own (unshare --net): the agent makes its bridge
# and nftables isolation there, DNS answers the instance address, curl reaches the guest
# through the agent's relay, and when prewarm up stops no tap is left.
# Usage: up_tap_test.sh PATH/TO/prewarm
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
PREWARM=${1:?usage: up_tap_test.sh PATH/TO/prewarm}
require_root_and qemu-system-x86_64 mkfs.erofs kdig curl nft unshare
if [[ -z ${PREWARM_E2E_NETNS:-} ]]; then
  PREWARM_E2E_NETNS=1 exec unshare --net bash "$0" "$@"
fi
ip link set lo up

CONFIG=$(mktemp /tmp/prewarm-e2e-tap.XXXXXX.yaml)
one_node_config "qemu, network: tap, bridge: pwe2e0, guest_network: 10.77.0.0/16" "" static >"$CONFIG" <<YAML
$(static_template)
YAML
LOG=$(mktemp /tmp/prewarm-e2e-tap.XXXXXX.log)
start_up "$LOG" --config "$CONFIG"
check "prewarm up (qemu on taps) comes up" wait_until 300 one_node
stop_if_failed "$LOG"
check "the agent made its bridge with the guests' gateway address" \
  bash -c "ip -4 addr show dev pwe2e0 | grep -q 'inet 10.77.0.1/16'"
check "nftables isolates the bridge" bash -c "nft list table inet prewarm_pwe2e0 | grep -q 'iifname \"pwe2e0\" drop'"
A=$(kdig @127.0.0.1 -p 5353 +short static.edge.example A | head -1)
check "static.edge.example answers an instance address ($A)" bash -c "[[ '$A' == 127.77.1.* ]]"
check "GET right after the cold answer is served by the guest on its tap" \
  bash -c "curl -sf --max-time 180 --retry 0 http://$A/ | grep -q 'prewarmed edge instance'"
taps() { ip -o link show master pwe2e0 | wc -l; }
check "the guest's tap is on the bridge, an isolated port" bash -c "ip -d link show master pwe2e0 | grep -q 'isolated on'"
HOST_PART=${A#127.77.}
check "the guest answers on its own address 10.77.$HOST_PART" \
  bash -c "curl -sf --max-time 30 http://10.77.$HOST_PART/ | grep -q 'prewarmed edge instance'"
stop_up
trap - EXIT
no_taps() { (( $(taps) == 0 )); }
check "no tap outlives prewarm up" wait_until 10 no_taps
rm -f "$CONFIG"
if ((FAILED > 0)); then tail -60 "$LOG"; fi
finish
