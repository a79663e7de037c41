// The Authority's fast path (precomputed records, ZoneConfig::precomputed) against its
// general path: two Authorities over the same resolver, clock and cookie secret, one with
// the fast path and one without, must send byte-identical responses and count the same
// statistics for every query of a generated mix (names in mixed case, every qtype, with
// and without EDNS, ECS v4/v6, cookies, odd sizes, junk), over UDP and TCP.
#include <gtest/gtest.h>

#include <random>

#include "dns/static_resolver.h"
#include "dns/zone.h"
#include "fmt/format.h"

namespace prewarm::dns {
namespace {

IpAddr Ip(const char* s) { return *IpAddr::Parse(s); }

std::vector<IpAddr> ManyV4(int n) {
  std::vector<IpAddr> out;
  for (int i = 0; i < n; ++i) out.push_back(IpAddr::V4(0xC6336400u + static_cast<uint32_t>(i)));
  return out;
}

// StaticResolver, counting the answers it gave in wire form (so the test knows the fast
// path was taken, not only that both paths agree).
class CountingResolver final : public ServiceResolver {
 public:
  std::optional<ServiceAnswer> Resolve(std::string_view service, uint16_t qtype,
                                       const ClientInfo& client) override {
    return inner_.Resolve(service, qtype, client);
  }
  bool ResolveWire(std::string_view service, uint16_t qtype, const ClientInfo& client,
                   WireAnswer& out) override {
    bool ok = inner_.ResolveWire(service, qtype, client, out);
    wire_answers_ += ok ? 1 : 0;
    return ok;
  }
  int wire_answers() const { return wire_answers_; }

 private:
  StaticResolver inner_{{
      {"static", ServiceAnswer{{Ip("192.0.2.1"), Ip("192.0.2.2"), Ip("2001:db8::1")}, 20, 0}},
      {"v4only", ServiceAnswer{{Ip("192.0.2.9")}, 30, 16}},
      {"v6only", ServiceAnswer{{Ip("2001:db8::9")}, 30, 24}},
      {"scoped", ServiceAnswer{{Ip("198.51.100.1")}, 5, 56}},
      {"big", ServiceAnswer{ManyV4(100), 20, 0}},
  }};
  int wire_answers_ = 0;
};

constexpr CookieSecret kMaster = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

ZoneConfig Zone(bool precomputed, RrlOptions rrl) {
  ZoneConfig z;
  z.soa.serial = 7;
  z.ns = {NsRecord{"ns1.edge.example.", {Ip("198.51.100.53"), Ip("2001:db8::53")}},
          NsRecord{"ns2.dns.edge.example.", {Ip("198.51.100.54")}},
          NsRecord{"ns.other.example.", {}}};
  z.cookies.master = kMaster;
  z.rrl = rrl;
  z.precomputed = precomputed;
  return z;
}

// One generated query.
struct QuerySpec {
  uint16_t id = 0;
  uint16_t flags = 0;
  std::string name;  // labels, already in the case to send
  uint16_t qtype = 1;
  uint16_t qclass = kClassIN;
  bool edns = false;
  uint16_t udp_size = 1232;
  uint8_t version = 0;
  bool dnssec_ok = false;
  std::vector<uint8_t> ecs;     // option body, empty: none
  std::vector<uint8_t> cookie;  // option body, empty: none
  bool other_option = false;
};

std::vector<uint8_t> Wire(const QuerySpec& q) {
  std::vector<uint8_t> w(kHeaderSize);
  Store16(&w[0], q.id);
  Store16(&w[2], q.flags);
  Store16(&w[4], 1);
  Store16(&w[10], q.edns ? 1 : 0);
  std::string_view rest = q.name;
  while (!rest.empty()) {
    size_t dot = rest.find('.');
    std::string_view label = rest.substr(0, dot);
    w.push_back(static_cast<uint8_t>(label.size()));
    w.insert(w.end(), label.begin(), label.end());
    rest.remove_prefix(dot == std::string_view::npos ? rest.size() : dot + 1);
  }
  w.push_back(0);
  uint8_t t[4];
  Store16(t, q.qtype);
  Store16(t + 2, q.qclass);
  w.insert(w.end(), t, t + 4);
  if (!q.edns) return w;
  std::vector<uint8_t> opts;
  auto option = [&](uint16_t code, const std::vector<uint8_t>& body) {
    uint8_t h[4];
    Store16(h, code);
    Store16(h + 2, static_cast<uint16_t>(body.size()));
    opts.insert(opts.end(), h, h + 4);
    opts.insert(opts.end(), body.begin(), body.end());
  };
  if (q.other_option) option(65001, {1, 2, 3});
  if (!q.cookie.empty()) option(kEdnsOptionCookie, q.cookie);
  if (!q.ecs.empty()) option(kEdnsOptionClientSubnet, q.ecs);
  uint8_t opt[11] = {0};
  Store16(opt + 1, rrtype::kOPT);
  Store16(opt + 3, q.udp_size);
  Store32(opt + 5, (uint32_t{q.version} << 16) | (q.dnssec_ok ? 0x8000u : 0u));
  Store16(opt + 9, static_cast<uint16_t>(opts.size()));
  w.insert(w.end(), opt, opt + 11);
  w.insert(w.end(), opts.begin(), opts.end());
  return w;
}

std::vector<uint8_t> EcsBody(const IpAddr& net, uint8_t prefix, uint8_t scope) {
  std::vector<uint8_t> b(4);
  Store16(&b[0], net.is_v4() ? 1 : 2);
  b[2] = prefix;
  b[3] = scope;
  IpAddr masked = net.Masked(prefix);
  b.insert(b.end(), masked.bytes(), masked.bytes() + (prefix + 7) / 8);
  return b;
}

std::string Hex(std::span<const uint8_t> b) {
  std::string s;
  for (uint8_t c : b) s += fmt::format("{:02x}", c);
  return s;
}

class ZonePrecomputedTest : public ::testing::Test {
 protected:
  void Make(RrlOptions rrl) {
    fast_ = *Authority::Create(Zone(true, rrl), resolver_, clock_);
    general_ = *Authority::Create(Zone(false, rrl), resolver_, clock_);
  }

  // Sends `query` to both; they must answer alike. Returns the fast path's answer size.
  size_t Both(std::span<const uint8_t> query, const ClientInfo& client) {
    std::vector<uint8_t> a(4096), b(4096);
    size_t na = fast_->Answer(query, client, a);
    size_t nb = general_->Answer(query, client, b);
    EXPECT_EQ(Hex({a.data(), na}), Hex({b.data(), nb}))
        << "query " << Hex(query) << " from " << client.source.ToString()
        << (client.tcp ? " over TCP" : " over UDP");
    return na;
  }

  void ExpectSameStats() {
    StatsSnapshot a = fast_->stats().Snapshot();
    StatsSnapshot b = general_->stats().Snapshot();
    EXPECT_EQ(a.responses_by_rcode, b.responses_by_rcode);
    EXPECT_EQ(a.queries_udp, b.queries_udp);
    EXPECT_EQ(a.queries_tcp, b.queries_tcp);
    EXPECT_EQ(a.truncated, b.truncated);
    EXPECT_EQ(a.dropped, b.dropped);
    EXPECT_EQ(a.ecs_seen, b.ecs_seen);
    EXPECT_EQ(a.cookie_client_only, b.cookie_client_only);
    EXPECT_EQ(a.cookie_valid, b.cookie_valid);
    EXPECT_EQ(a.cookie_invalid, b.cookie_invalid);
    EXPECT_EQ(a.rrl_dropped, b.rrl_dropped);
    EXPECT_EQ(a.rrl_slipped, b.rrl_slipped);
  }

  QuerySpec Generate(std::mt19937_64& rng, const IpAddr& source) {
    static const char* kLabels[] = {"static", "v4only", "v6only", "scoped",   "big",    "nosuch",
                                    "ns1",    "dns",    "",       "a.static", "ns2.dns"};
    static const char* kZones[] = {"edge.example", "edge.example",  "edge.example",
                                   "edge.example", "other.example", "example"};
    static const uint16_t kTypes[] = {1, 1, 1, 28, 28, 255, 15, 6, 2, 41, 252, 16};
    static const uint16_t kSizes[] = {0, 100, 512, 513, 1000, 1232, 1400, 4096, 65535};
    QuerySpec q;
    q.id = static_cast<uint16_t>(rng());
    q.flags = (rng() % 2 ? Header::kRd : 0) | (rng() % 8 == 0 ? Header::kCd : 0) |
              (rng() % 8 == 0 ? Header::kAd : 0) | (rng() % 40 == 0 ? 0x0800 : 0) |
              (rng() % 60 == 0 ? Header::kQr : 0) | (rng() % 30 == 0 ? Header::kTc : 0);
    std::string label = kLabels[rng() % std::size(kLabels)];
    std::string zone = kZones[rng() % std::size(kZones)];
    std::string name = label.empty() ? zone : label + "." + zone;
    for (char& c : name) {
      if (rng() % 2 && c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');  // 0x20
    }
    q.name = name;
    q.qtype = kTypes[rng() % std::size(kTypes)];
    q.qclass = rng() % 40 == 0 ? 3 : kClassIN;
    q.edns = rng() % 4 != 0;
    q.udp_size = kSizes[rng() % std::size(kSizes)];
    q.version = rng() % 30 == 0 ? 1 : 0;
    q.dnssec_ok = rng() % 3 == 0;
    q.other_option = rng() % 10 == 0;
    switch (rng() % 6) {
      case 0:
      case 1: {
        uint8_t prefix = static_cast<uint8_t>(rng() % 33);
        q.ecs = EcsBody(Ip("203.0.113.77"), prefix, rng() % 10 == 0 ? 8 : 0);
        break;
      }
      case 2: {
        uint8_t prefix = static_cast<uint8_t>(rng() % 129);
        q.ecs = EcsBody(Ip("2001:db8:aa:bb::1"), prefix, 0);
        break;
      }
      case 3:
        if (rng() % 4 == 0) q.ecs = {0, 1, 24, 0, 203, 0, 113, 1};  // bits beyond the prefix
        break;
      default:
        break;
    }
    switch (rng() % 6) {
      case 0:  // client cookie only
        for (int i = 0; i < 8; ++i) q.cookie.push_back(static_cast<uint8_t>(rng()));
        break;
      case 1: {  // a valid server cookie for this client
        Cookie c;
        for (auto& b : c.client) b = static_cast<uint8_t>(rng());
        CookieCheck made = cookies_.Check(c, source, static_cast<uint32_t>(clock_.NowMs() / 1000));
        q.cookie.assign(made.reply.client.begin(), made.reply.client.end());
        q.cookie.insert(q.cookie.end(), made.reply.server.begin(),
                        made.reply.server.begin() + made.reply.server_size);
        break;
      }
      case 2:  // a server cookie we did not make
        for (int i = 0; i < 24; ++i) q.cookie.push_back(static_cast<uint8_t>(rng()));
        break;
      case 3:
        if (rng() % 4 == 0) q.cookie = {1, 2, 3, 4, 5};  // bad length: FORMERR
        break;
      default:
        break;
    }
    return q;
  }

  // Damages some queries: cut short, a byte changed, a byte added.
  static void Mutate(std::mt19937_64& rng, std::vector<uint8_t>& w) {
    switch (rng() % 40) {
      case 0:
        w.resize(rng() % w.size());
        break;
      case 1:
        w[rng() % w.size()] = static_cast<uint8_t>(rng());
        break;
      case 2:
        w.push_back(static_cast<uint8_t>(rng()));
        break;
      default:
        break;
    }
  }

  ManualClock clock_;
  CountingResolver resolver_;
  ServerCookies cookies_{CookieOptions{.master = kMaster}};
  std::unique_ptr<Authority> fast_;
  std::unique_ptr<Authority> general_;
};

TEST_F(ZonePrecomputedTest, FastAndGeneralPathsSendTheSameBytes) {
  Make({.responses_per_s = 0});
  static const char* kSources[] = {"127.0.0.1", "192.0.2.200", "2001:db8:5::7"};
  std::mt19937_64 rng(2026);
  for (int i = 0; i < 30000; ++i) {
    const IpAddr source = Ip(kSources[rng() % std::size(kSources)]);
    std::vector<uint8_t> w = Wire(Generate(rng, source));
    Mutate(rng, w);
    Both(w, ClientInfo{source, std::nullopt, rng() % 5 == 0});
    if (i % 1000 == 999) clock_.Advance(700'000);  // cookies age and secrets rotate
  }
  ExpectSameStats();
  // The fast path answered a good share of them (A/AAAA for services with records).
  EXPECT_GT(resolver_.wire_answers(), 1500);
  EXPECT_GT(fast_->stats().Snapshot().truncated, 0u) << "no UDP answer was truncated";
}

// Rate limiting decides the same on both paths: one client network floods each Authority
// with the same queries; limited responses are dropped or slipped (TC=1 or BADCOOKIE) alike.
TEST_F(ZonePrecomputedTest, RateLimitedAnswersAreTheSame) {
  Make({.responses_per_s = 20, .slip = 2, .table_size = 1024});
  std::mt19937_64 rng(53);
  for (int i = 0; i < 3000; ++i) {
    const IpAddr source = Ip("192.0.2.200");
    QuerySpec q = Generate(rng, source);
    q.name = rng() % 2 ? "static.edge.example" : "StAtIc.EdGe.ExAmPlE";
    q.qtype = rng() % 2 ? rrtype::kA : rrtype::kAAAA;
    q.flags = Header::kRd;
    Both(Wire(q), ClientInfo{source, std::nullopt, rng() % 10 == 0});
    clock_.Advance(static_cast<int64_t>(rng() % 20));
  }
  ExpectSameStats();
  StatsSnapshot s = fast_->stats().Snapshot();
  EXPECT_GT(s.rrl_dropped, 0u);
  EXPECT_GT(s.rrl_slipped, 0u);
  EXPECT_GT(s.cookie_valid, 0u);
  EXPECT_GT(resolver_.wire_answers(), 200);
}

// The 0x20 bits of the question come back as sent, and the answer's owner points at it.
TEST_F(ZonePrecomputedTest, TheQuestionComesBackInItsOwnCase) {
  Make({.responses_per_s = 0});
  QuerySpec q;
  q.id = 0xBEEF;
  q.flags = Header::kRd;
  q.name = "sTaTiC.eDgE.ExAmPlE";
  std::vector<uint8_t> w = Wire(q);
  std::vector<uint8_t> out(512);
  size_t n = fast_->Answer(w, ClientInfo{Ip("127.0.0.1"), std::nullopt, false}, out);
  ASSERT_GT(n, w.size());
  EXPECT_EQ(resolver_.wire_answers(), 1);
  EXPECT_EQ(Hex({out.data(), 2}), "beef");
  EXPECT_EQ(Hex({out.data() + 12, w.size() - 12}), Hex({w.data() + 12, w.size() - 12}));
  absl::StatusOr<Message> m = ParseMessage({out.data(), n});
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(m->answers.size(), 2u);
  EXPECT_EQ(m->answers[0].name.ToText(), "sTaTiC.eDgE.ExAmPlE.");
  EXPECT_TRUE(m->header.aa());
}

}  // namespace
}  // namespace prewarm::dns
