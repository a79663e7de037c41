#!/bin/bash
# deploy/man.sh PREWARM OUT.1: prewarm(1) from the binary's own --help texts, so the man
# page cannot drift from the flags. help2man formats the top level; every subcommand's
# --help (and the ctl subcommands') follows as a section of its own.
set -euo pipefail
bin=$1
out=$2
command -v help2man >/dev/null || { echo "man.sh: help2man is not installed (tools/install-deps)" >&2; exit 1; }
extra=$(mktemp)
trap 'rm -f "$extra"' EXIT
{
  echo "[COMMANDS]"
  for cmd in up orchestrator agent forecaster ctl sim replay forecast image certs cluster completion; do
    "$bin" "$cmd" --help >/dev/null 2>&1 || continue
    echo ".SS \"prewarm $cmd\""
    echo ".nf"
    "$bin" "$cmd" --help 2>&1 | sed -e 's/\\/\\\\/g' -e 's/^\./\\\&./'
    echo ".fi"
  done
  echo "[FILES]"
  echo ".TP"
  echo "/etc/prewarm/*.yaml"
  echo "Configuration of the orchestrator, the forecaster and each agent (agent-NODE.yaml)."
  echo ".TP"
  echo "/var/lib/prewarm/forecaster/history.bin"
  echo "The forecaster's learned series, kept across restarts."
  echo "[SEE ALSO]"
  echo "systemctl(1): prewarm-orchestrator.service, prewarm-forecaster.service, prewarm-agent@NODE.service"
} >"$extra"
help2man --no-info --section 1 --name "edge orchestrator that boots instances before the DNS query arrives" \
  --version-string "$("$bin" --version | head -1)" --include "$extra" --output "$out" "$bin"
