// libFuzzer target for the DNS hot path. For every input:
//  1. ParseMessage; if it parses, EncodeMessage must succeed and re-parse to an equal
//     message (parse -> encode -> parse consistency), and ParseQuery must agree with it.
//  2. Authority::Answer over UDP and TCP must not crash, must stay within the transport's
//     size limit and must produce a response our own parser accepts, with QR set and the
//     query's id.
//  3. The fast path (precomputed records, ZoneConfig::precomputed) and the general path
//     must send the same bytes: a second Authority with the fast path off answers too.
// Build and run with tools/run-fuzz.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <span>
#include <vector>

#include "dns/codec.h"
#include "dns/static_resolver.h"
#include "dns/writer.h"
#include "dns/zone.h"

namespace prewarm::dns {
namespace {

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "dns_fuzz: invariant violated: %s\n", what);
    std::abort();
  }
}

StaticResolver& TheResolver() {
  static StaticResolver* resolver = new StaticResolver({
      {"static", ServiceAnswer{{IpAddr::V4(0xC0000201), *IpAddr::Parse("2001:db8::1")}, 20, 16}},
      {"big", ServiceAnswer{std::vector<IpAddr>(120, IpAddr::V4(0xC0000202)), 20, 0}},
  });
  return *resolver;
}

Authority* MakeAuthority(bool precomputed) {
  ZoneConfig z;
  z.ns = {NsRecord{"ns1.edge.example.", {IpAddr::V4(0xC6336435)}},
          NsRecord{"ns.other.example.", {}}};
  z.cookies.master = CookieSecret{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  z.precomputed = precomputed;
  // One fixed clock, so both Authorities make the same server cookies.
  static ManualClock* clock = new ManualClock();
  return Authority::Create(z, TheResolver(), *clock)->release();
}

Authority& TheAuthority() {
  static Authority* authority = MakeAuthority(true);
  return *authority;
}

Authority& TheGeneralAuthority() {
  static Authority* authority = MakeAuthority(false);
  return *authority;
}

void CheckRoundTrip(std::span<const uint8_t> in) {
  absl::StatusOr<Message> m = ParseMessage(in);
  if (!m.ok()) {
    return;
  }
  std::vector<uint8_t> buf(3 * in.size() + 1024);
  absl::StatusOr<size_t> n = EncodeMessage(*m, buf);
  Check(n.ok(), "a parsed message must encode");
  absl::StatusOr<Message> again = ParseMessage({buf.data(), *n});
  Check(again.ok(), "an encoded message must parse");
  Check(again->header.id == m->header.id && again->header.flags == m->header.flags,
        "header survives the round trip");
  Check(again->questions == m->questions, "questions survive");
  Check(again->answers == m->answers, "answers survive");
  Check(again->authority == m->authority, "authority survives");
  Check(again->additional == m->additional, "additional survives");
  Check(again->edns == m->edns, "EDNS survives");
  if (m->header.qdcount == 1) {
    absl::StatusOr<Query> q = ParseQuery(in);
    Check(q.ok(), "ParseQuery accepts what ParseMessage accepts");
    Check(q->question == m->questions[0], "ParseQuery reads the same question");
    Check(q->edns.has_value() == m->edns.has_value(), "ParseQuery sees the same OPT");
  }
}

void CheckAnswer(std::span<const uint8_t> in, bool tcp) {
  // Reused: allocating and zeroing 64 KiB twice per answer was most of the time per input.
  static std::vector<uint8_t>& out = *new std::vector<uint8_t>(65535);
  static std::vector<uint8_t>& general = *new std::vector<uint8_t>(65535);
  ClientInfo client{IpAddr::V4(0x7F000001), std::nullopt, tcp};
  size_t n = TheAuthority().Answer(in, client, out);
  size_t g = TheGeneralAuthority().Answer(in, client, general);
  Check(n == g && std::equal(out.begin(), out.begin() + n, general.begin()),
        "the fast path answers what the general path answers");
  if (n == 0) {
    return;
  }
  Check(tcp || n <= 1232, "UDP answers respect max_udp_payload");
  absl::StatusOr<Message> r = ParseMessage({out.data(), n});
  Check(r.ok(), "our responses parse");
  Check(r->header.qr(), "responses have QR set");
  Check(in.size() >= 2 && r->header.id == Load16(in.data()), "responses echo the id");
}

}  // namespace
}  // namespace prewarm::dns

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> in(data, size);
  prewarm::dns::CheckRoundTrip(in);
  prewarm::dns::CheckAnswer(in, /*tcp=*/false);
  prewarm::dns::CheckAnswer(in, /*tcp=*/true);
  return 0;
}
