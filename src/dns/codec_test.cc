#include "dns/codec.h"

#include <gtest/gtest.h>

#include "dns/ldns_testutil.h"
#include "dns/writer.h"

namespace prewarm::dns {
namespace {

using testing::QuerySpec;
using testing::QueryWire;

std::vector<uint8_t> Ecs(std::initializer_list<int> b) {
  return std::vector<uint8_t>(b.begin(), b.end());
}

TEST(DnsCodecTest, ParsesAPlainLdnsQuery) {
  QuerySpec s;
  s.name = "Static.Edge.Example.";
  std::vector<uint8_t> wire = QueryWire(s);
  absl::StatusOr<Message> m = ParseMessage(wire);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->header.id, 0x1234);
  EXPECT_TRUE(m->header.rd());
  EXPECT_FALSE(m->header.qr());
  ASSERT_EQ(m->questions.size(), 1u);
  EXPECT_EQ(m->questions[0].name.ToText(), "Static.Edge.Example.");
  EXPECT_EQ(m->questions[0].qtype, rrtype::kA);
  EXPECT_EQ(m->questions[0].qclass, kClassIN);
  EXPECT_FALSE(m->edns);

  absl::StatusOr<Query> q = ParseQuery(wire);
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->question, m->questions[0]);
  EXPECT_EQ(q->question_end, wire.size());
}

TEST(DnsCodecTest, ParsesEdnsWithClientSubnetAndOtherOptions) {
  QuerySpec s;
  s.type = LDNS_RR_TYPE_AAAA;
  s.edns = true;
  s.udp_size = 4096;
  s.dnssec_ok = true;
  s.ecs = Ecs({0, 1, 24, 0, 203, 0, 113});
  s.extra_options = {{10, {1, 2, 3, 4, 5, 6, 7, 8}}};  // a client cookie
  std::vector<uint8_t> wire = QueryWire(s);
  absl::StatusOr<Message> m = ParseMessage(wire);
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_TRUE(m->edns);
  EXPECT_EQ(m->edns->udp_size, 4096);
  EXPECT_EQ(m->edns->version, 0);
  EXPECT_TRUE(m->edns->dnssec_ok);
  ASSERT_TRUE(m->edns->ecs);
  EXPECT_EQ(m->edns->ecs->address.ToString(), "203.0.113.0");
  EXPECT_EQ(m->edns->ecs->source_prefix, 24);
  EXPECT_EQ(m->edns->ecs->scope_prefix, 0);
  EXPECT_TRUE(m->edns->options.empty());
  ASSERT_TRUE(m->edns->cookie);
  EXPECT_EQ(m->edns->cookie->client, (std::array<uint8_t, 8>{1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(m->edns->cookie->server_size, 0);
  EXPECT_TRUE(m->additional.empty());

  absl::StatusOr<Query> q = ParseQuery(wire);
  ASSERT_TRUE(q.ok()) << q.status();
  ASSERT_TRUE(q->edns && q->edns->ecs);
  EXPECT_EQ(*q->edns->ecs, *m->edns->ecs);
  EXPECT_TRUE(q->edns->options.empty());  // the query path keeps only ECS and COOKIE
  EXPECT_EQ(q->edns->cookie, m->edns->cookie);
}

TEST(DnsCodecTest, CookieOptionLengths) {
  // RFC 7873 §4: 8 bytes of client cookie, then nothing or 8 to 32 of server cookie.
  for (size_t n : {8u, 16u, 24u, 40u}) {
    absl::StatusOr<Cookie> c = ParseCookie(std::vector<uint8_t>(n, 0xAB));
    ASSERT_TRUE(c.ok()) << n;
    EXPECT_EQ(c->wire_size(), n);
    EXPECT_EQ(c->server_size, n - 8);
  }
  for (size_t n : {0u, 7u, 9u, 15u, 41u}) {
    EXPECT_FALSE(ParseCookie(std::vector<uint8_t>(n, 0xAB)).ok()) << n;
  }
}

TEST(DnsCodecTest, MalformedOrDuplicateCookieOptionsFailBothParsers) {
  QuerySpec s;
  s.edns = true;
  s.extra_options = {{10, std::vector<uint8_t>(12, 1)}};
  std::vector<uint8_t> bad = QueryWire(s);
  EXPECT_FALSE(ParseQuery(bad).ok());
  EXPECT_FALSE(ParseMessage(bad).ok());
  s.extra_options = {{10, std::vector<uint8_t>(8, 1)}, {10, std::vector<uint8_t>(8, 2)}};
  std::vector<uint8_t> twice = QueryWire(s);
  EXPECT_FALSE(ParseQuery(twice).ok());
  EXPECT_FALSE(ParseMessage(twice).ok());
}

TEST(DnsCodecTest, CookieSurvivesEncodeAndParse) {
  Message m;
  m.header.id = 7;
  m.questions.push_back(Question{*Name::FromText("a.example."), rrtype::kA, kClassIN});
  Edns e;
  e.udp_size = 1232;
  Cookie c;
  c.client = {1, 2, 3, 4, 5, 6, 7, 8};
  c.server_size = 16;
  c.server[0] = 1;
  c.server[15] = 0xEE;
  e.cookie = c;
  m.edns = e;
  std::vector<uint8_t> buf(512);
  absl::StatusOr<size_t> n = EncodeMessage(m, buf);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 12 + 15 + OptSize(e));  // header, question, OPT
  absl::StatusOr<Message> again = ParseMessage({buf.data(), *n});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->edns, m.edns);
}

TEST(DnsCodecTest, ParsesIpv6ClientSubnet) {
  absl::StatusOr<ClientSubnet> cs =
      ParseClientSubnet(Ecs({0, 2, 36, 0, 0x20, 0x01, 0x0d, 0xb8, 0x10}));
  ASSERT_TRUE(cs.ok()) << cs.status();
  EXPECT_EQ(cs->address.ToString(), "2001:db8:1000::");
  EXPECT_EQ(cs->source_prefix, 36);
  absl::StatusOr<ClientSubnet> zero = ParseClientSubnet(Ecs({0, 1, 0, 0}));
  ASSERT_TRUE(zero.ok());
  EXPECT_EQ(zero->address.ToString(), "0.0.0.0");
}

TEST(DnsCodecTest, RejectsInvalidClientSubnets) {
  EXPECT_FALSE(ParseClientSubnet(Ecs({0, 3, 8, 0, 10})).ok());               // family
  EXPECT_FALSE(ParseClientSubnet(Ecs({0, 1, 33, 0, 1, 2, 3, 4, 5})).ok());   // prefix > 32
  EXPECT_FALSE(ParseClientSubnet(Ecs({0, 1, 24, 0, 203, 0})).ok());          // too few bytes
  EXPECT_FALSE(ParseClientSubnet(Ecs({0, 1, 24, 0, 203, 0, 113, 0})).ok());  // too many
  EXPECT_FALSE(ParseClientSubnet(Ecs({0, 1, 23, 0, 203, 0, 113})).ok());     // bit 24 set
  EXPECT_FALSE(ParseClientSubnet(Ecs({0, 1, 24, 33, 203, 0, 113})).ok());    // scope > 32
  EXPECT_FALSE(ParseClientSubnet(Ecs({0, 1, 24})).ok());                     // short
  std::vector<uint8_t> v6 = Ecs({0, 2, 129, 0});
  v6.resize(4 + 17, 0);
  EXPECT_FALSE(ParseClientSubnet(v6).ok());  // prefix > 128
  EXPECT_TRUE(ParseClientSubnet(Ecs({0, 1, 23, 0, 203, 0, 112})).ok());
}

TEST(DnsCodecTest, QueryWithBadClientSubnetFailsToParse) {
  QuerySpec s;
  s.edns = true;
  s.ecs = Ecs({0, 1, 16, 0, 203, 0, 113});
  EXPECT_FALSE(ParseQuery(QueryWire(s)).ok());
  EXPECT_FALSE(ParseMessage(QueryWire(s)).ok());
}

TEST(DnsCodecTest, RejectsTwoClientSubnetOptions) {
  QuerySpec s;
  s.edns = true;
  s.ecs = Ecs({0, 1, 8, 0, 10});
  s.extra_options = {{8, Ecs({0, 1, 8, 0, 11})}};
  EXPECT_FALSE(ParseQuery(QueryWire(s)).ok());
}

TEST(DnsCodecTest, RejectsTruncationsOfAValidQueryAtEveryLength) {
  QuerySpec s;
  s.edns = true;
  s.ecs = Ecs({0, 1, 24, 0, 203, 0, 113});
  std::vector<uint8_t> wire = QueryWire(s);
  ASSERT_TRUE(ParseMessage(wire).ok());
  for (size_t n = 0; n < wire.size(); ++n) {
    std::span<const uint8_t> cut(wire.data(), n);
    EXPECT_FALSE(ParseMessage(cut).ok()) << n;
    EXPECT_FALSE(ParseQuery(cut).ok()) << n;
  }
  wire.push_back(0);
  EXPECT_FALSE(ParseMessage(wire).ok()) << "trailing byte";
}

TEST(DnsCodecTest, RejectsHugeCountsAndMisplacedOpt) {
  std::vector<uint8_t> wire = QueryWire(QuerySpec{});
  wire[6] = 0xFF;  // ancount 0xFF00
  EXPECT_FALSE(ParseMessage(wire).ok());
  EXPECT_FALSE(ParseQuery(wire).ok());
  wire = QueryWire(QuerySpec{});
  wire[5] = 2;  // qdcount 2
  EXPECT_FALSE(ParseQuery(wire).ok());
  // An OPT in the answer section.
  QuerySpec with_edns;
  with_edns.edns = true;
  std::vector<uint8_t> opt_wire = QueryWire(with_edns);
  opt_wire[7] = 1;   // ancount 1
  opt_wire[11] = 0;  // arcount 0
  EXPECT_FALSE(ParseMessage(opt_wire).ok());
  EXPECT_FALSE(ParseQuery(opt_wire).ok());
}

TEST(DnsCodecTest, ParsesAllRecordTypesOfAnLdnsResponse) {
  testing::LdnsPkt p(ldns_pkt_new());
  ldns_pkt_set_qr(p.get(), true);
  ldns_pkt_set_aa(p.get(), true);
  ldns_pkt_set_rcode(p.get(), LDNS_RCODE_NOERROR);
  const char* rrs[] = {
      "edge.example. 3600 IN SOA ns1.edge.example. hostmaster.edge.example. 7 3600 600 604800 30",
      "edge.example. 3600 IN NS ns1.edge.example.",
      "www.edge.example. 60 IN CNAME static.edge.example.",
      "static.edge.example. 30 IN A 192.0.2.1",
      "static.edge.example. 30 IN AAAA 2001:db8::1",
      "static.edge.example. 30 IN TXT \"hello\"",
  };
  for (const char* text : rrs) {
    ldns_rr* rr = nullptr;
    ASSERT_EQ(ldns_rr_new_frm_str(&rr, text, 0, nullptr, nullptr), LDNS_STATUS_OK) << text;
    ldns_pkt_push_rr(p.get(), LDNS_SECTION_ANSWER, rr);
  }
  std::vector<uint8_t> wire = testing::ToWire(p.get());
  absl::StatusOr<Message> m = ParseMessage(wire);
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(m->answers.size(), 6u);
  const auto& soa = std::get<SoaData>(m->answers[0].data);
  EXPECT_EQ(soa.mname.ToText(), "ns1.edge.example.");
  EXPECT_EQ(soa.rname.ToText(), "hostmaster.edge.example.");
  EXPECT_EQ(soa.serial, 7u);
  EXPECT_EQ(soa.minimum, 30u);
  EXPECT_EQ(std::get<Name>(m->answers[1].data).ToText(), "ns1.edge.example.");
  EXPECT_EQ(std::get<Name>(m->answers[2].data).ToText(), "static.edge.example.");
  EXPECT_EQ(std::get<IpAddr>(m->answers[3].data).ToString(), "192.0.2.1");
  EXPECT_EQ(std::get<IpAddr>(m->answers[4].data).ToString(), "2001:db8::1");
  EXPECT_EQ(m->answers[5].type, 16);
  EXPECT_EQ(std::get<OpaqueData>(m->answers[5].data).bytes,
            std::vector<uint8_t>({5, 'h', 'e', 'l', 'l', 'o'}));
  EXPECT_EQ(m->answers[3].ttl, 30u);
  EXPECT_TRUE(m->header.aa());
}

}  // namespace
}  // namespace prewarm::dns
