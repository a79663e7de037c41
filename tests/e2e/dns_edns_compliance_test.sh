#!/usr/bin/env bash
# The EDNS compliance probes of RFC 8906 section 8 / ISC's genreport ("EDNS Compliance
# Tester"), sent with BIND's dig exactly as genreport's test list gives them, against the
# orchestrator's authoritative DNS on loopback (no agents; the zone's apex answers SOA).
# Each probe checks genreport's expectation: rcode, answer presence, OPT presence and
# version, option echo, flag echo (DO) and must-be-zero flags.
# Usage: dns_edns_compliance_test.sh PATH/TO/prewarm
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
PREWARM=${1:?usage: dns_edns_compliance_test.sh PATH/TO/prewarm}
command -v dig >/dev/null || { echo "SKIP: dig not installed (dnsutils)"; exit 77; }
command -v curl >/dev/null || { echo "SKIP: curl not installed"; exit 77; }

WORK=$(mktemp -d /tmp/prewarm-e2e-edns.XXXXXX)
PORT=5361
ZONE=edge.example.
cat >"$WORK/orch.yaml" <<YAML
zone: $ZONE
dns: {listen: 127.0.0.1:$PORT}
grpc: {listen: 127.0.0.1:7411}
http: {listen: 127.0.0.1:9411}
origin: {addresses: [127.0.0.1], check: false}
services: [{name: static, template: static}]
regions: [{name: frankfurt, latitude: 50.11, longitude: 8.68}]
default_region: frankfurt
YAML
"$PREWARM" orchestrator --config "$WORK/orch.yaml" >"$WORK/orch.log" 2>&1 &
ORCH=$!
cleanup() {
  kill -TERM "$ORCH" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

# probe NAME dig-args...: runs dig, keeps its output in $OUT for the checks after it.
OUT=
probe() {
  local name=$1
  shift
  OUT=$(dig @127.0.0.1 -p "$PORT" +time=3 +tries=1 +norec "$@" 2>&1)
  echo "--- $name: dig $*" >>"$WORK/probes.log"
  echo "$OUT" >>"$WORK/probes.log"
}
has() { grep -qE -- "$1" <<<"$OUT"; }
hasnt() { ! grep -qE -- "$1" <<<"$OUT"; }
status_is() { has "status: $1,"; }
soa_answer() { has "ANSWER: 1," && has "^$ZONE[[:space:]]+[0-9]+[[:space:]]+IN[[:space:]]+SOA"; }
no_answer() { has "ANSWER: 0,"; }
opt_v0() { has "; EDNS: version: 0,"; }
no_opt() { hasnt "OPT PSEUDOSECTION"; }
mbz_clear() { hasnt "MBZ: "; }

check "the orchestrator answers SOA at the apex"  wait_until 30 bash -c "dig @127.0.0.1 -p $PORT +short +time=1 +tries=1 $ZONE SOA | grep -q '^[^;]'"
stop_if_failed "$WORK/orch.log"

probe dns +noedns soa $ZONE
check "dns: plain DNS is NOERROR with the SOA" eval 'status_is NOERROR && soa_answer'
check "dns: no OPT to a query without one" no_opt
check "aa: the answer is authoritative" has "flags: qr aa;"

probe edns +edns=0 soa $ZONE
check "edns: NOERROR with the SOA and an OPT of version 0" eval 'status_is NOERROR && soa_answer && opt_v0'

probe edns1 +edns=1 +noednsneg soa $ZONE
check "edns1: BADVERS, OPT version 0, no answer" eval 'status_is BADVERS && opt_v0 && no_answer'

probe "edns@512" +edns=0 +dnssec +bufsize=512 +ignore dnskey $ZONE
check "edns@512: NOERROR with an OPT (an unsigned zone: no DNSKEY)" eval 'status_is NOERROR && opt_v0'
size=$(grep -oE "MSG SIZE +rcvd: [0-9]+" <<<"$OUT" | awk '{print $4}')
check "edns@512: the response fits 512 bytes ($size) or is truncated" \
  eval '(( ${size:-9999} <= 512 )) || has "flags: qr aa tc"'

probe ednsopt +edns=0 +ednsopt=100 soa $ZONE
check "ednsopt: an unknown option is ignored: NOERROR, SOA, OPT" eval 'status_is NOERROR && soa_answer && opt_v0'
check "ednsopt: the unknown option is not echoed" hasnt "OPT=100"

probe edns1opt +edns=1 +noednsneg +ednsopt=100 soa $ZONE
check "edns1opt: BADVERS, OPT version 0, no answer" eval 'status_is BADVERS && opt_v0 && no_answer'
check "edns1opt: the unknown option is not echoed" hasnt "OPT=100"

probe do +edns=0 +dnssec soa $ZONE
check "do: NOERROR with the SOA" eval 'status_is NOERROR && soa_answer'
check "do: the DO bit is copied into the response (RFC 3225)" has "; EDNS: version: 0, flags: do;"

probe ednsflags +edns=0 +ednsflags=0x80 soa $ZONE
check "ednsflags: an undefined EDNS flag: NOERROR, SOA, OPT" eval 'status_is NOERROR && soa_answer && opt_v0'
check "ednsflags: the undefined flag is not echoed (must be zero)" mbz_clear

probe optlist +edns=0 +nsid +subnet=0.0.0.0/0 +expire +cookie soa $ZONE
check "optlist: several options at once: NOERROR, SOA, OPT" eval 'status_is NOERROR && soa_answer && opt_v0'
check "optlist: the client subnet 0/0 is echoed with scope 0" has "CLIENT-SUBNET: 0\.0\.0\.0/0/0"
check "optlist: the cookie is answered with a server cookie" has "; COOKIE: [0-9a-f]{48,80}"
check "optlist: EXPIRE (zone transfers only) is not echoed" hasnt "EXPIRE:"

probe docookie +edns=0 +cookie soa $ZONE
check "docookie: NOERROR with the SOA" eval 'status_is NOERROR && soa_answer'
COOKIE=$(grep -oE "; COOKIE: [0-9a-f]+" <<<"$OUT" | awk '{print $3}')
check "docookie: a client and server cookie of 24..40 bytes (RFC 7873)" \
  eval '(( ${#COOKIE} >= 48 && ${#COOKIE} <= 80 ))'
probe docookie-again +edns=0 "+cookie=$COOKIE" soa $ZONE
check "docookie: the server cookie sent back is good" has "; COOKIE: [0-9a-f]+ \(good\)"

probe zflag +noedns +zflag soa $ZONE
check "zflag: the header's Z bit is ignored: NOERROR with the SOA" eval 'status_is NOERROR && soa_answer'
check "zflag: and cleared in the response" hasnt "MBZ: 0x"

probe type666 +noedns type666 $ZONE
check "type666: an unknown type is NODATA (NOERROR, no answer, SOA in authority)" eval ' status_is NOERROR && no_answer && has "AUTHORITY: 1,"'

probe opcode +noedns +opcode=15 +header-only soa $ZONE
check "opcode: an unknown opcode is NOTIMP with no answer" eval 'status_is NOTIMP && has "ANSWER: 0,"'

probe tcp +noedns +tcp soa $ZONE
check "tcp: plain DNS over TCP: NOERROR with the SOA" eval 'status_is NOERROR && soa_answer'

probe ednstcp +edns=0 +tcp soa $ZONE
check "ednstcp: EDNS over TCP: NOERROR, SOA, OPT" eval 'status_is NOERROR && soa_answer && opt_v0'

probe edns512tcp +edns=0 +dnssec +bufsize=512 +tcp dnskey $ZONE
check "edns512tcp: EDNS with a 512-byte buffer over TCP: NOERROR with an OPT" eval 'status_is NOERROR && opt_v0'

probe bind11 +edns=0 +cookie +dnssec +bufsize=4096 soa $ZONE
check "bind11: BIND 11's query (cookie, DO, 4096): NOERROR, SOA, OPT with DO" eval ' status_is NOERROR && soa_answer && has "flags: do;"'

if ((FAILED > 0)); then cat "$WORK/probes.log"; fi
finish
