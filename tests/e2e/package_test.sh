#!/bin/bash
# package_deb: `cpack -G DEB` builds the .deb, mmdebstrap installs it into a fresh Debian
# 12 root (apt resolves its dependencies, its maintainer scripts run), and in that root:
# `prewarm --version` runs, `systemd-analyze verify` accepts the three units, the
# configs connect to each other, and the man page and completion are where they belong.
# Needs root, cpack, mmdebstrap and Debian's mirror (as tools/install-deps does).
# Usage: package_test.sh BUILD_DIR
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
build=$1

[[ $(id -u) -eq 0 ]] || { echo "SKIP: needs root (mmdebstrap, chroot)"; exit 77; }
for t in cpack mmdebstrap dpkg-deb; do
  command -v "$t" >/dev/null || { echo "SKIP: $t not installed (tools/install-deps)"; exit 77; }
done

work=$(mktemp -d /tmp/prewarm-package.XXXXXX)
trap 'rm -rf "$work"' EXIT

if ! (cd "$build" && cpack -G DEB -B "$work/pkg") >"$work/cpack.log" 2>&1; then
  cat "$work/cpack.log"
  fail "cpack builds the .deb"
  finish
  exit 1
fi
deb=$(ls "$work"/pkg/prewarm_*.deb 2>/dev/null | head -1)
check "cpack made prewarm_<version>_<arch>.deb" test -f "$deb" || { finish; exit 1; }
dpkg-deb -I "$deb" >"$work/info"
dpkg-deb -c "$deb" >"$work/contents"
for f in ./usr/lib/prewarm/prewarm ./usr/lib/prewarm/prewarm-httpd \
         ./usr/lib/prewarm/prewarm-guest-activate ./usr/lib/prewarm/prewarm-qemu-jail \
         ./usr/lib/prewarm/prewarm-seccomp-exec ./usr/lib/prewarm/libprewarm-capstone-off.so \
         ./usr/bin/prewarm \
         ./lib/systemd/system/prewarm-orchestrator.service \
         ./lib/systemd/system/prewarm-forecaster.service \
         ./lib/systemd/system/prewarm-agent@.service \
         ./etc/prewarm/orchestrator.yaml ./etc/prewarm/forecaster.yaml \
         ./etc/prewarm/agent-fra-2.yaml ./etc/prewarm/templates.d/static.yaml \
         ./usr/share/man/man1/prewarm.1 \
         ./usr/share/bash-completion/completions/prewarm \
         ./usr/share/prewarm/prometheus/alerts.yml ./usr/share/prewarm/grafana/prewarm.json; do
  check "the package holds $f" grep -q " $f\( \|$\)" "$work/contents"
done
check "its dependencies come from dpkg-shlibdeps (libgrpc++)" grep -q "Depends:.*libgrpc++" "$work/info"
check "the configs are conffiles" bash -c "dpkg-deb -e '$deb' '$work/ctl' && grep -qx /etc/prewarm/forecaster.yaml '$work/ctl/conffiles'"

# The fresh root. The customize hooks run inside it, with /proc and /dev mounted; their
# output goes to /root (mmdebstrap empties /tmp when it is done).
# apt installs the .deb from inside the root (its dependencies from Debian's mirror).
if ! timeout 900 mmdebstrap --variant=apt --quiet --include=systemd,man-db \
     --customize-hook="copy-in $deb /tmp" \
     --customize-hook="chroot \"\$1\" apt-get install -y -q /tmp/$(basename "$deb")" \
     --customize-hook='chroot "$1" prewarm --version > "$1/root/version.out" 2>&1' \
     --customize-hook='chroot "$1" systemd-analyze verify /lib/systemd/system/prewarm-orchestrator.service /lib/systemd/system/prewarm-forecaster.service /lib/systemd/system/prewarm-agent@fra-2.service > "$1/root/verify.out" 2>&1; echo $? > "$1/root/verify.rc"' \
     bookworm "$work/root" </dev/null >"$work/mmdebstrap.log" 2>&1; then
  tail -40 "$work/mmdebstrap.log"
  fail "mmdebstrap installs the .deb into a fresh bookworm root"
  finish
  exit 1
fi
pass "mmdebstrap installs the .deb into a fresh bookworm root (apt resolved its dependencies)"
root=$work/root
cat "$root/root/version.out"
check "prewarm --version runs in the fresh root" grep -q "^prewarm " "$root/root/version.out"
cat "$root/root/verify.out"
check "systemd-analyze verify accepts the units" test "$(cat "$root/root/verify.rc")" = 0
check "systemd-analyze says nothing about them" bash -c "! grep -i 'prewarm' '$root/root/verify.out'"
check "postinst made the prewarm system user" grep -q "^prewarm:" "$root/etc/passwd"
check "postinst made /var/lib/prewarm/forecaster, owned by it" \
  bash -c "[[ \$(chroot '$root' stat -c %U /var/lib/prewarm/forecaster) == prewarm ]]"
check "the packaged forecaster keeps its history in /var/lib/prewarm" \
  grep -q "^state_dir: /var/lib/prewarm/forecaster" "$root/etc/prewarm/forecaster.yaml"
# The packaged configs are valid for the installed binary (that the examples connect to
# each other is cli_test's ExampleConfigsTest).
for d in orchestrator forecaster agent; do
  f=/etc/prewarm/$d.yaml
  [[ $d == agent ]] && f=/etc/prewarm/agent-fra-2.yaml
  check "prewarm $d --check accepts $f in the fresh root" chroot "$root" prewarm "$d" --check --config "$f"
done
finish
