#include "dns/zone.h"

#include <gtest/gtest.h>

#include <random>

#include "dns/ldns_testutil.h"
#include "dns/static_resolver.h"

namespace prewarm::dns {
namespace {

using testing::LdnsPkt;
using testing::QuerySpec;
using testing::RdfText;

IpAddr Ip(const char* s) { return *IpAddr::Parse(s); }

std::vector<IpAddr> ManyV4(int n) {
  std::vector<IpAddr> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(IpAddr::V4(0xC0000200u + static_cast<uint32_t>(i)));
  }
  return out;
}

// A small in-memory deployment; "whoami" answers with the client's location address and
// a scope four bits shorter than the client's subnet, like a geo-aware resolver would.
class FakeResolver final : public ServiceResolver {
 public:
  std::optional<ServiceAnswer> Resolve(std::string_view service, uint16_t qtype,
                                       const ClientInfo& client) override {
    if (service == "whoami") {
      IpAddr where = client.ecs ? client.ecs->address : client.source;
      uint8_t scope = client.ecs && client.ecs->source_prefix >= 4
                          ? static_cast<uint8_t>(client.ecs->source_prefix - 4)
                          : 0;
      return ServiceAnswer{{where}, 5, scope};
    }
    return static_.Resolve(service, qtype, client);
  }

 private:
  StaticResolver static_{{
      {"static", ServiceAnswer{{Ip("192.0.2.1"), Ip("192.0.2.2"), Ip("2001:db8::1")}, 20, 0}},
      {"v4only", ServiceAnswer{{Ip("192.0.2.9")}, 20, 0}},
      {"medium", ServiceAnswer{ManyV4(40), 20, 0}},
      {"big", ServiceAnswer{ManyV4(100), 20, 0}},
  }};
};

ZoneConfig TestZone() {
  ZoneConfig z;
  z.soa.serial = 42;
  z.ns = {NsRecord{"ns1.edge.example.", {Ip("198.51.100.53"), Ip("2001:db8::53")}},
          NsRecord{"ns2.dns.edge.example.", {Ip("198.51.100.54")}},
          NsRecord{"ns.other.example.", {}}};
  return z;
}

class DnsZoneTest : public ::testing::Test {
 protected:
  DnsZoneTest() : authority_(*Authority::Create(TestZone(), resolver_)) {}

  struct Result {
    size_t size = 0;
    LdnsPkt pkt;  // ldns' reading of the response (the oracle)
    Message msg;  // ours
  };

  Result Send(std::span<const uint8_t> wire, bool tcp = false,
              std::optional<ClientSubnet> ecs = std::nullopt) {
    std::vector<uint8_t> buf(65535);
    Result r;
    r.size = authority_->Answer(wire, ClientInfo{Ip("127.0.0.1"), ecs, tcp}, buf);
    if (r.size == 0) {
      return r;
    }
    r.pkt = testing::FromWire({buf.data(), r.size});
    EXPECT_NE(r.pkt, nullptr) << "ldns rejects our response";
    absl::StatusOr<Message> m = ParseMessage({buf.data(), r.size});
    EXPECT_TRUE(m.ok()) << m.status();
    if (m.ok()) {
      r.msg = *m;
    }
    return r;
  }

  Result Ask(const QuerySpec& s, bool tcp = false) { return Send(testing::QueryWire(s), tcp); }

  Result Ask(const char* name, ldns_rr_type type) {
    QuerySpec s;
    s.name = name;
    s.type = type;
    return Ask(s);
  }

  FakeResolver resolver_;
  std::unique_ptr<Authority> authority_;
};

std::vector<std::string> Rdata(ldns_rr_list* list) {
  std::vector<std::string> out;
  for (size_t i = 0; i < ldns_rr_list_rr_count(list); ++i) {
    out.push_back(RdfText(ldns_rr_rdf(ldns_rr_list_rr(list, i), 0)));
  }
  return out;
}

TEST_F(DnsZoneTest, AnswersServiceAddressesAuthoritatively) {
  Result r = Ask("Static.EDGE.example.", LDNS_RR_TYPE_A);
  ASSERT_NE(r.pkt, nullptr);
  EXPECT_EQ(ldns_pkt_get_rcode(r.pkt.get()), LDNS_RCODE_NOERROR);
  EXPECT_EQ(ldns_pkt_id(r.pkt.get()), 0x1234);
  EXPECT_TRUE(ldns_pkt_qr(r.pkt.get()));
  EXPECT_TRUE(ldns_pkt_aa(r.pkt.get()));
  EXPECT_TRUE(ldns_pkt_rd(r.pkt.get()));
  EXPECT_FALSE(ldns_pkt_ra(r.pkt.get()));
  EXPECT_FALSE(ldns_pkt_tc(r.pkt.get()));
  EXPECT_EQ(Rdata(ldns_pkt_answer(r.pkt.get())),
            std::vector<std::string>({"192.0.2.1", "192.0.2.2"}));
  ASSERT_EQ(r.msg.questions.size(), 1u);
  EXPECT_EQ(r.msg.questions[0].name.ToText(), "Static.EDGE.example.");  // echoed as sent
  EXPECT_EQ(r.msg.answers[0].name.ToText(), "Static.EDGE.example.");
  EXPECT_EQ(r.msg.answers[0].ttl, 20u);
  EXPECT_FALSE(r.msg.edns);

  Result v6 = Ask("static.edge.example.", LDNS_RR_TYPE_AAAA);
  EXPECT_EQ(Rdata(ldns_pkt_answer(v6.pkt.get())), std::vector<std::string>({"2001:db8::1"}));
  Result any = Ask("static.edge.example.", LDNS_RR_TYPE_ANY);
  EXPECT_EQ(ldns_pkt_ancount(any.pkt.get()), 3);
}

TEST_F(DnsZoneTest, MissingFamilyIsNodataWithTheSoa) {
  Result r = Ask("v4only.edge.example.", LDNS_RR_TYPE_AAAA);
  EXPECT_EQ(ldns_pkt_get_rcode(r.pkt.get()), LDNS_RCODE_NOERROR);
  EXPECT_TRUE(ldns_pkt_aa(r.pkt.get()));
  EXPECT_EQ(ldns_pkt_ancount(r.pkt.get()), 0);
  ASSERT_EQ(r.msg.authority.size(), 1u);
  EXPECT_EQ(r.msg.authority[0].type, rrtype::kSOA);
  EXPECT_EQ(r.msg.authority[0].ttl, 30u);  // min(apex TTL, SOA minimum)
  EXPECT_EQ(std::get<SoaData>(r.msg.authority[0].data).serial, 42u);
  Result mx = Ask("static.edge.example.", LDNS_RR_TYPE_MX);
  EXPECT_EQ(ldns_pkt_get_rcode(mx.pkt.get()), LDNS_RCODE_NOERROR);
  EXPECT_EQ(ldns_pkt_nscount(mx.pkt.get()), 1);
}

TEST_F(DnsZoneTest, UnknownNamesInTheZoneAreNxdomain) {
  for (const char* name : {"nosuch.edge.example.", "a.static.edge.example."}) {
    Result r = Ask(name, LDNS_RR_TYPE_A);
    EXPECT_EQ(ldns_pkt_get_rcode(r.pkt.get()), LDNS_RCODE_NXDOMAIN) << name;
    EXPECT_TRUE(ldns_pkt_aa(r.pkt.get()));
    ASSERT_EQ(r.msg.authority.size(), 1u);
    EXPECT_EQ(r.msg.authority[0].name.ToText(), "edge.example.");
    EXPECT_EQ(r.msg.authority[0].ttl, 30u);
  }
}

TEST_F(DnsZoneTest, NamesOutsideTheZoneAndOtherClassesAreRefused) {
  Result r = Ask("www.example.com.", LDNS_RR_TYPE_A);
  EXPECT_EQ(ldns_pkt_get_rcode(r.pkt.get()), LDNS_RCODE_REFUSED);
  EXPECT_FALSE(ldns_pkt_aa(r.pkt.get()));
  EXPECT_EQ(ldns_pkt_qdcount(r.pkt.get()), 1);
  QuerySpec chaos;
  chaos.name = "static.edge.example.";
  chaos.rclass = LDNS_RR_CLASS_CH;
  EXPECT_EQ(ldns_pkt_get_rcode(Ask(chaos).pkt.get()), LDNS_RCODE_REFUSED);
  EXPECT_EQ(ldns_pkt_get_rcode(Ask("edge.example.", LDNS_RR_TYPE_AXFR).pkt.get()),
            LDNS_RCODE_REFUSED);
}

// QCLASS ANY ("*", RFC 1035 3.2.5) matches the zone's class, as Knot answers it
// (tests/e2e/dns_knot_diff_test.sh found the difference).
TEST_F(DnsZoneTest, ClassAnyIsAnsweredAsTheZonesClass) {
  QuerySpec any;
  any.name = "static.edge.example.";
  any.rclass = LDNS_RR_CLASS_ANY;
  Result r = Ask(any);
  EXPECT_EQ(ldns_pkt_get_rcode(r.pkt.get()), LDNS_RCODE_NOERROR);
  EXPECT_TRUE(ldns_pkt_aa(r.pkt.get()));
  ASSERT_FALSE(r.msg.answers.empty());
  for (const auto& rr : r.msg.answers) EXPECT_EQ(rr.rclass, kClassIN);
  any.name = "nope.edge.example.";
  EXPECT_EQ(ldns_pkt_get_rcode(Ask(any).pkt.get()), LDNS_RCODE_NXDOMAIN);
}

TEST_F(DnsZoneTest, ApexServesSoaAndNsWithGlue) {
  Result soa = Ask("edge.example.", LDNS_RR_TYPE_SOA);
  ASSERT_EQ(soa.msg.answers.size(), 1u);
  EXPECT_EQ(std::get<SoaData>(soa.msg.answers[0].data).mname.ToText(), "ns1.edge.example.");
  EXPECT_EQ(soa.msg.answers[0].ttl, 3600u);

  Result ns = Ask("EDGE.example.", LDNS_RR_TYPE_NS);
  EXPECT_TRUE(ldns_pkt_aa(ns.pkt.get()));
  EXPECT_EQ(Rdata(ldns_pkt_answer(ns.pkt.get())),
            std::vector<std::string>(
                {"ns1.edge.example.", "ns2.dns.edge.example.", "ns.other.example."}));
  EXPECT_EQ(Rdata(ldns_pkt_additional(ns.pkt.get())),
            std::vector<std::string>({"198.51.100.53", "2001:db8::53", "198.51.100.54"}));

  Result a = Ask("edge.example.", LDNS_RR_TYPE_A);
  EXPECT_EQ(ldns_pkt_get_rcode(a.pkt.get()), LDNS_RCODE_NOERROR);
  EXPECT_EQ(ldns_pkt_ancount(a.pkt.get()), 0);
  EXPECT_EQ(ldns_pkt_nscount(a.pkt.get()), 1);
}

TEST_F(DnsZoneTest, NameServerHostsAnswerFromGlue) {
  EXPECT_EQ(Rdata(ldns_pkt_answer(Ask("ns1.edge.example.", LDNS_RR_TYPE_A).pkt.get())),
            std::vector<std::string>({"198.51.100.53"}));
  EXPECT_EQ(Rdata(ldns_pkt_answer(Ask("NS1.edge.example.", LDNS_RR_TYPE_AAAA).pkt.get())),
            std::vector<std::string>({"2001:db8::53"}));
  EXPECT_EQ(Rdata(ldns_pkt_answer(Ask("ns2.dns.edge.example.", LDNS_RR_TYPE_A).pkt.get())),
            std::vector<std::string>({"198.51.100.54"}));
  Result ent = Ask("dns.edge.example.", LDNS_RR_TYPE_A);  // empty non-terminal
  EXPECT_EQ(ldns_pkt_get_rcode(ent.pkt.get()), LDNS_RCODE_NOERROR);
  EXPECT_EQ(ldns_pkt_ancount(ent.pkt.get()), 0);
}

TEST_F(DnsZoneTest, OtherOpcodesAreNotImplemented) {
  QuerySpec s;
  LdnsPkt q = testing::BuildQuery(s);
  ldns_pkt_set_opcode(q.get(), LDNS_PACKET_NOTIFY);
  Result r = Send(testing::ToWire(q.get()));
  ASSERT_NE(r.pkt, nullptr);
  EXPECT_EQ(ldns_pkt_get_rcode(r.pkt.get()), LDNS_RCODE_NOTIMPL);
  EXPECT_EQ(ldns_pkt_get_opcode(r.pkt.get()), LDNS_PACKET_NOTIFY);
  EXPECT_EQ(ldns_pkt_id(r.pkt.get()), 0x1234);
}

TEST_F(DnsZoneTest, MalformedQueriesGetFormerrWithTheirId) {
  std::vector<uint8_t> two = testing::QueryWire(QuerySpec{});
  two[5] = 2;  // claims two questions
  Result r = Send(two);
  ASSERT_EQ(r.size, kHeaderSize);
  EXPECT_EQ(ldns_pkt_get_rcode(r.pkt.get()), LDNS_RCODE_FORMERR);
  EXPECT_EQ(ldns_pkt_id(r.pkt.get()), 0x1234);
  EXPECT_TRUE(ldns_pkt_rd(r.pkt.get()));

  QuerySpec bad_ecs;
  bad_ecs.edns = true;
  bad_ecs.ecs = std::vector<uint8_t>{0, 1, 8, 0, 10, 0};  // two bytes for an /8
  EXPECT_EQ(ldns_pkt_get_rcode(Ask(bad_ecs).pkt.get()), LDNS_RCODE_FORMERR);

  std::vector<uint8_t> label = testing::QueryWire(QuerySpec{});
  label[12] = 64;  // first label length > 63
  EXPECT_EQ(ldns_pkt_get_rcode(Send(label).pkt.get()), LDNS_RCODE_FORMERR);
}

TEST_F(DnsZoneTest, ShortInputsAndResponsesAreDropped) {
  std::vector<uint8_t> wire = testing::QueryWire(QuerySpec{});
  EXPECT_EQ(Send(std::span(wire).first(11)).size, 0u);
  wire[2] |= 0x80;  // QR=1
  EXPECT_EQ(Send(wire).size, 0u);
  EXPECT_EQ(authority_->stats().Snapshot().dropped, 2u);
}

TEST_F(DnsZoneTest, EdnsVersionAboveZeroIsBadvers) {
  QuerySpec s;
  s.edns = true;
  s.version = 1;
  Result r = Ask(s);
  ASSERT_TRUE(r.msg.edns);
  EXPECT_EQ(r.msg.rcode(), static_cast<uint16_t>(Rcode::kBadVers));
  EXPECT_EQ(r.msg.edns->version, 0);
  EXPECT_EQ(ldns_pkt_edns_extended_rcode(r.pkt.get()), 1);
  EXPECT_EQ(ldns_pkt_ancount(r.pkt.get()), 0);
  EXPECT_EQ(authority_->stats().Snapshot().responses_by_rcode[16], 1u);
}

TEST_F(DnsZoneTest, EchoesEdnsAndClientSubnetWithTheResolversScope) {
  QuerySpec s;
  s.name = "whoami.edge.example.";
  s.edns = true;
  s.udp_size = 4096;
  s.dnssec_ok = true;
  s.ecs = std::vector<uint8_t>{0, 1, 24, 0, 203, 0, 113};
  Result r = Ask(s);
  ASSERT_TRUE(r.msg.edns);
  EXPECT_EQ(r.msg.edns->udp_size, 1232);
  EXPECT_TRUE(r.msg.edns->dnssec_ok);
  ASSERT_TRUE(r.msg.edns->ecs);
  EXPECT_EQ(r.msg.edns->ecs->address.ToString(), "203.0.113.0");
  EXPECT_EQ(r.msg.edns->ecs->source_prefix, 24);
  EXPECT_EQ(r.msg.edns->ecs->scope_prefix, 20);
  EXPECT_EQ(Rdata(ldns_pkt_answer(r.pkt.get())), std::vector<std::string>({"203.0.113.0"}));
  EXPECT_EQ(authority_->stats().Snapshot().ecs_seen, 1u);

  s.ecs = std::vector<uint8_t>{0, 1, 0, 0};  // the client opts out: scope must be 0
  Result zero = Ask(s);
  ASSERT_TRUE(zero.msg.edns && zero.msg.edns->ecs);
  EXPECT_EQ(zero.msg.edns->ecs->scope_prefix, 0);
}

TEST_F(DnsZoneTest, LargeUdpAnswersAreTruncatedAndComeBackWholeOverTcp) {
  Result plain = Ask("medium.edge.example.", LDNS_RR_TYPE_A);  // 40 A records > 512
  EXPECT_TRUE(ldns_pkt_tc(plain.pkt.get()));
  EXPECT_LE(plain.size, 512u);
  EXPECT_EQ(ldns_pkt_ancount(plain.pkt.get()), 0);
  EXPECT_EQ(ldns_pkt_qdcount(plain.pkt.get()), 1);

  QuerySpec s;
  s.name = "medium.edge.example.";
  s.edns = true;
  s.udp_size = 1232;
  Result edns = Ask(s);
  EXPECT_FALSE(ldns_pkt_tc(edns.pkt.get()));
  EXPECT_EQ(ldns_pkt_ancount(edns.pkt.get()), 40);

  s.name = "big.edge.example.";
  s.udp_size = 65000;  // capped at max_udp_payload
  Result big = Ask(s);
  EXPECT_TRUE(ldns_pkt_tc(big.pkt.get()));
  EXPECT_LE(big.size, 1232u);
  ASSERT_TRUE(big.msg.edns);  // the OPT survives truncation

  Result tcp = Ask(s, /*tcp=*/true);
  EXPECT_FALSE(ldns_pkt_tc(tcp.pkt.get()));
  EXPECT_EQ(ldns_pkt_ancount(tcp.pkt.get()), 100);
  StatsSnapshot st = authority_->stats().Snapshot();
  EXPECT_EQ(st.truncated, 2u);
  EXPECT_EQ(st.queries_tcp, 1u);
  EXPECT_EQ(st.queries_udp, 3u);
}

TEST_F(DnsZoneTest, RandomlyCorruptedQueriesNeverCrashAndAnswersParse) {
  QuerySpec s;
  s.edns = true;
  s.ecs = std::vector<uint8_t>{0, 1, 24, 0, 203, 0, 113};
  std::vector<uint8_t> base = testing::QueryWire(s);
  std::mt19937 rng(7);
  for (int i = 0; i < 20000; ++i) {
    std::vector<uint8_t> q = base;
    int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) {
      q[rng() % q.size()] = static_cast<uint8_t>(rng());
    }
    q.resize(rng() % 8 == 0 ? rng() % (q.size() + 1) : q.size());
    std::vector<uint8_t> buf(4096);
    size_t n = authority_->Answer(q, ClientInfo{Ip("127.0.0.1"), std::nullopt, false}, buf);
    if (n == 0) {
      continue;
    }
    ASSERT_LE(n, 1232u);
    absl::StatusOr<Message> m = ParseMessage({buf.data(), n});
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_TRUE(m->header.qr());
    EXPECT_EQ(m->header.id, Load16(q.data()));
  }
}

TEST(DnsZoneConfigTest, RejectsBadConfigs) {
  FakeResolver r;
  ZoneConfig no_ns;
  EXPECT_FALSE(Authority::Create(no_ns, r).ok());
  ZoneConfig bad = TestZone();
  bad.origin = std::string(70, 'x') + ".example.";
  EXPECT_FALSE(Authority::Create(bad, r).ok());
}

}  // namespace
}  // namespace prewarm::dns
