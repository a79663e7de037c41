#!/usr/bin/env bash
# End to end: `prewarm up --runtime qemu` — the embedded default with every agent running
# its instances as QEMU microvm guests (TCG on these machines), checked with kdig and curl.
# The first run downloads Debian's kernel package into /var/cache/prewarm.
# Usage: up_qemu_test.sh PATH/TO/prewarm
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
PREWARM=${1:?usage: up_qemu_test.sh PATH/TO/prewarm}
require_root_and qemu-system-x86_64 mkfs.erofs kdig curl

DNS=(@127.0.0.1 -p 5353)
LOG=$(mktemp /tmp/prewarm-e2e-up-qemu.XXXXXX.log)
start_up "$LOG" --runtime qemu

check "prewarm up --runtime qemu comes up with three agents" wait_until 240 three_nodes
stop_if_failed "$LOG"
check "each agent logged its accelerator choice and why" \
  bash -c "(( \$(grep -c 'qemu runtime: kernel .*accelerator' '$LOG') == 3 ))"

# The cold path: the first query reserves an instance and answers at once; the GET made
# right after, with no retry, waits in the agent's backlog while the VM boots.
IAD=$(a_record +subnet=198.51.100.0/24)
check "cold query from Virginia answers a Virginia address ($IAD)" bash -c "[[ '$IAD' == 127.77.2.* ]]"
BODY=$(curl -s --max-time 120 --retry 0 "http://$IAD/hello.txt")
check "GET right after the cold answer is served by the booting VM without retry" \
  bash -c "[[ '$BODY' == 'hello from the origin, preloaded at the edge' ]]"
check "the answered address is a QEMU guest's forward" \
  bash -c "pgrep -af -- '[q]emu-system-x86_64 -name prewarm-.*prewarm/(fra|iad|sin)-1/' | grep -q 'hostfwd=tcp:$IAD:'"
became_ready() { grep -q "instance iad-1-static-.* ready on $IAD" "$LOG"; }
check "the instance became ready in the log" wait_until 30 became_ready
FRA=$(a_record)
check "Frankfurt answers from its own VM ($FRA) and serves index.html" \
  bash -c "curl -sf --max-time 120 http://$FRA/ | grep -q 'prewarmed edge instance'"
check "two VMs run" bash -c "(( \$(pgrep -f -- '[q]emu-system-x86_64 -name prewarm-.*prewarm/(fra|iad|sin)-1/' | wc -l) >= 2 ))"

kill -INT "$UP_PID"
wait "$UP_PID"
RC=$?
check "prewarm up stops cleanly on SIGINT (rc $RC)" bash -c "(( $RC == 0 ))"
check "no QEMU outlives the agents" bash -c "(( \$(pgrep -f -- '[q]emu-system-x86_64 -name prewarm-.*prewarm/(fra|iad|sin)-1/' | wc -l) == 0 ))"
check "no instance directory is left" \
  bash -c "! ls -d /run/prewarm/{fra-1,iad-1,sin-1}/instances/*/ 2>/dev/null | grep -q ."

# An agent killed outright takes its VMs with it (they die with the thread that spawned
# them), and the next start removes what they left on disk.
start_up "$LOG" --runtime qemu
check "prewarm up --runtime qemu comes up again" wait_until 120 three_nodes
A=$(a_record)
check "a VM serves the next cold query ($A)" bash -c "curl -sf --max-time 120 http://$A/ | grep -q 'prewarmed edge instance'"
kill -9 "$UP_PID"
wait "$UP_PID" 2>/dev/null
no_vms() { (( $(pgrep -f -- '[q]emu-system-x86_64 -name prewarm-.*prewarm/(fra|iad|sin)-1/' | wc -l) == 0 )); }
check "after kill -9 of prewarm up, no QEMU is left within 5 s" wait_until 5 no_vms
trap - EXIT
if ((FAILED > 0)); then tail -60 "$LOG"; fi
finish
