// The Authority's fast path (precomputed records, ZoneConfig::precomputed) against its
// general path: two Authorities over the same resolver, clock and cookie secret, one with
// the fast path and one without, must send byte-identical responses and count the same
// statistics for every query of a generated mix (names in mixed case, every qtype, with
// and without EDNS, ECS v4/v6, cookies, odd sizes, junk), over UDP and TCP.
#include <gtest/gtest.h>

#include <random>

#include "dns/ldns_testutil.h"
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

// A generated query: ldns builds it (testing::QuerySpec); the header flags are then
// overwritten with any combination, which ldns does not offer.
struct GeneratedQuery {
  testing::QuerySpec spec;
  uint16_t flags = 0;
};

std::vector<uint8_t> Wire(const GeneratedQuery& q) {
  std::vector<uint8_t> w = testing::QueryWire(q.spec);
  if (w.size() >= kHeaderSize) Store16(&w[2], q.flags);
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

  GeneratedQuery Generate(std::mt19937_64& rng, const IpAddr& source) {
    static const char* kLabels[] = {"static", "v4only", "v6only", "scoped",   "big",    "nosuch",
                                    "ns1",    "dns",    "",       "a.static", "ns2.dns"};
    static const char* kZones[] = {"edge.example", "edge.example",  "edge.example",
                                   "edge.example", "other.example", "example"};
    static const uint16_t kTypes[] = {1, 1, 1, 28, 28, 255, 15, 6, 2, 41, 252, 16};
    static const uint16_t kSizes[] = {0, 100, 512, 513, 1000, 1232, 1400, 4096, 65535};
    GeneratedQuery g;
    testing::QuerySpec& q = g.spec;
    q.id = static_cast<uint16_t>(rng());
    g.flags = (rng() % 2 ? Header::kRd : 0) | (rng() % 8 == 0 ? Header::kCd : 0) |
              (rng() % 8 == 0 ? Header::kAd : 0) | (rng() % 40 == 0 ? 0x0800 : 0) |
              (rng() % 60 == 0 ? Header::kQr : 0) | (rng() % 30 == 0 ? Header::kTc : 0);
    std::string label = kLabels[rng() % std::size(kLabels)];
    std::string zone = kZones[rng() % std::size(kZones)];
    std::string name = label.empty() ? zone : label + "." + zone;
    for (char& c : name) {
      if (rng() % 2 && c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');  // 0x20
    }
    q.name = name + ".";
    q.type = static_cast<ldns_rr_type>(kTypes[rng() % std::size(kTypes)]);
    q.rclass = rng() % 40 == 0 ? LDNS_RR_CLASS_CH : LDNS_RR_CLASS_IN;
    q.edns = rng() % 4 != 0;
    q.udp_size = kSizes[rng() % std::size(kSizes)];
    q.version = rng() % 30 == 0 ? 1 : 0;
    q.dnssec_ok = rng() % 3 == 0;
    if (rng() % 10 == 0) q.extra_options.push_back({65001, {1, 2, 3}});
    std::vector<uint8_t> cookie;
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
        if (rng() % 4 == 0)
          q.ecs = std::vector<uint8_t>{0, 1, 24, 0, 203, 0, 113, 1};  // bits beyond the prefix
        break;
      default:
        break;
    }
    switch (rng() % 6) {
      case 0:  // client cookie only
        for (int i = 0; i < 8; ++i) cookie.push_back(static_cast<uint8_t>(rng()));
        break;
      case 1: {  // a valid server cookie for this client
        Cookie c;
        for (auto& b : c.client) b = static_cast<uint8_t>(rng());
        CookieCheck made = cookies_.Check(c, source, static_cast<uint32_t>(clock_.NowMs() / 1000));
        cookie.assign(made.reply.client.begin(), made.reply.client.end());
        cookie.insert(cookie.end(), made.reply.server.begin(),
                      made.reply.server.begin() + made.reply.server_size);
        break;
      }
      case 2:  // a server cookie we did not make
        for (int i = 0; i < 24; ++i) cookie.push_back(static_cast<uint8_t>(rng()));
        break;
      case 3:
        if (rng() % 4 == 0) cookie = {1, 2, 3, 4, 5};  // bad length: FORMERR
        break;
      default:
        break;
    }
    if (!cookie.empty()) q.extra_options.push_back({kEdnsOptionCookie, cookie});
    return g;
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
    ASSERT_FALSE(w.empty()) << "ldns could not build query " << i;
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
    GeneratedQuery q = Generate(rng, source);
    q.spec.name = rng() % 2 ? "static.edge.example." : "StAtIc.EdGe.ExAmPlE.";
    q.spec.type = rng() % 2 ? LDNS_RR_TYPE_A : LDNS_RR_TYPE_AAAA;
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
  testing::QuerySpec q;
  q.id = 0xBEEF;
  q.name = "sTaTiC.eDgE.ExAmPlE.";
  std::vector<uint8_t> w = testing::QueryWire(q);
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
