#include "dns/writer.h"

#include <gtest/gtest.h>

#include <array>

#include "dns/ldns_testutil.h"

namespace prewarm::dns {
namespace {

Name N(const char* text) { return *Name::FromText(text); }

ResourceRecord A(const char* owner, const char* ip, uint32_t ttl = 30) {
  return ResourceRecord{N(owner), rrtype::kA, kClassIN, ttl, RData(*IpAddr::Parse(ip))};
}

Message SampleResponse() {
  Message m;
  m.header.id = 0xBEEF;
  m.header.flags = Header::kQr | Header::kAa | Header::kRd | 3;  // NXDOMAIN
  m.questions.push_back(Question{N("Static.Edge.Example."), rrtype::kA, kClassIN});
  m.answers.push_back(A("Static.Edge.Example.", "192.0.2.1"));
  m.answers.push_back(ResourceRecord{N("Static.Edge.Example."), rrtype::kAAAA, kClassIN, 30,
                                     RData(*IpAddr::Parse("2001:db8::7"))});
  SoaData soa{N("ns1.edge.example."), N("hostmaster.edge.example."), 9, 3600, 600, 604800, 30};
  m.authority.push_back(ResourceRecord{N("edge.example."), rrtype::kSOA, kClassIN, 30, RData(soa)});
  m.authority.push_back(ResourceRecord{N("edge.example."), rrtype::kNS, kClassIN, 3600,
                                       RData(N("ns1.edge.example."))});
  m.additional.push_back(A("ns1.edge.example.", "198.51.100.53"));
  m.additional.push_back(
      ResourceRecord{N("edge.example."), 16, kClassIN, 5, RData(OpaqueData{{3, 'a', 'b', 'c'}})});
  Edns e;
  e.udp_size = 1232;
  e.dnssec_ok = true;
  e.ecs = ClientSubnet{*IpAddr::Parse("203.0.113.0"), 24, 20};
  e.cookie = Cookie{{1, 2, 3, 4, 5, 6, 7, 8}, 0, {}};  // a client cookie, as option 10
  m.edns = e;
  return m;
}

TEST(DnsWriterTest, EncodeThenParseGivesTheSameMessage) {
  Message m = SampleResponse();
  std::array<uint8_t, 1024> buf;
  absl::StatusOr<size_t> n = EncodeMessage(m, buf);
  ASSERT_TRUE(n.ok()) << n.status();
  absl::StatusOr<Message> back = ParseMessage({buf.data(), *n});
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->header.id, m.header.id);
  EXPECT_EQ(back->header.flags, m.header.flags);
  EXPECT_EQ(back->questions, m.questions);
  EXPECT_EQ(back->answers, m.answers);
  EXPECT_EQ(back->authority, m.authority);
  EXPECT_EQ(back->additional, m.additional);
  EXPECT_EQ(back->edns, m.edns);
}

TEST(DnsWriterTest, LdnsReadsOurResponseIdentically) {
  Message m = SampleResponse();
  std::array<uint8_t, 1024> buf;
  size_t n = *EncodeMessage(m, buf);
  testing::LdnsPkt p = testing::FromWire({buf.data(), n});
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(ldns_pkt_id(p.get()), 0xBEEF);
  EXPECT_TRUE(ldns_pkt_qr(p.get()));
  EXPECT_TRUE(ldns_pkt_aa(p.get()));
  EXPECT_TRUE(ldns_pkt_rd(p.get()));
  EXPECT_FALSE(ldns_pkt_tc(p.get()));
  EXPECT_EQ(ldns_pkt_get_rcode(p.get()), LDNS_RCODE_NXDOMAIN);
  ASSERT_EQ(ldns_pkt_ancount(p.get()), 2);
  ASSERT_EQ(ldns_pkt_nscount(p.get()), 2);
  ASSERT_EQ(ldns_pkt_arcount(p.get()), 2);  // ldns counts OPT separately
  ldns_rr* a = ldns_rr_list_rr(ldns_pkt_answer(p.get()), 0);
  EXPECT_EQ(testing::RdfText(ldns_rr_owner(a)), "Static.Edge.Example.");
  EXPECT_EQ(testing::RdfText(ldns_rr_rdf(a, 0)), "192.0.2.1");
  ldns_rr* soa = ldns_rr_list_rr(ldns_pkt_authority(p.get()), 0);
  EXPECT_EQ(ldns_rr_get_type(soa), LDNS_RR_TYPE_SOA);
  EXPECT_EQ(testing::RdfText(ldns_rr_rdf(soa, 0)), "ns1.edge.example.");
  EXPECT_EQ(testing::RdfText(ldns_rr_rdf(soa, 1)), "hostmaster.edge.example.");
  EXPECT_EQ(testing::RdfText(ldns_rr_rdf(soa, 2)), "9");
  ldns_rr* ns = ldns_rr_list_rr(ldns_pkt_authority(p.get()), 1);
  EXPECT_EQ(testing::RdfText(ldns_rr_rdf(ns, 0)), "ns1.edge.example.");
  EXPECT_EQ(ldns_pkt_edns_udp_size(p.get()), 1232);
  EXPECT_TRUE(ldns_pkt_edns_do(p.get()));
  ldns_edns_option_list* opts = ldns_pkt_edns_get_option_list(p.get());
  ASSERT_NE(opts, nullptr);
  ASSERT_EQ(ldns_edns_option_list_get_count(opts), 2u);
  ldns_edns_option* ecs = ldns_edns_option_list_get_option(opts, 1);
  EXPECT_EQ(ldns_edns_get_code(ecs), LDNS_EDNS_CLIENT_SUBNET);
  const uint8_t* d = ldns_edns_get_data(ecs);
  ASSERT_EQ(ldns_edns_get_size(ecs), 7u);
  EXPECT_EQ(std::vector<uint8_t>(d, d + 7), std::vector<uint8_t>({0, 1, 24, 20, 203, 0, 113}));
}

TEST(DnsWriterTest, CompressesRepeatedNames) {
  Message m;
  m.questions.push_back(Question{N("static.edge.example."), rrtype::kA, kClassIN});
  for (int i = 0; i < 10; ++i) {
    m.answers.push_back(A("static.edge.example.", "192.0.2.1"));
  }
  std::array<uint8_t, 512> buf;
  size_t n = *EncodeMessage(m, buf);
  // header + question (21 + 4) + 10 * (2-byte pointer + 10 + 4)
  EXPECT_EQ(n, 12u + 25u + 10u * 16u);
  EXPECT_NE(testing::FromWire({buf.data(), n}), nullptr);
}

TEST(DnsWriterTest, CompressionIsCaseExact) {
  Message m;
  m.questions.push_back(Question{N("STATIC.edge.example."), rrtype::kA, kClassIN});
  m.answers.push_back(A("static.edge.example.", "192.0.2.1"));
  std::array<uint8_t, 512> buf;
  size_t n = *EncodeMessage(m, buf);
  absl::StatusOr<Message> back = ParseMessage({buf.data(), n});
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->answers[0].name.ToText(), "static.edge.example.");
}

TEST(DnsWriterTest, RecordsThatDoNotFitAreRefusedAndRollBack) {
  std::array<uint8_t, 512> buf;
  MessageWriter w(buf, 12 + 25 + 16 * 2 + 5);
  ASSERT_TRUE(w.AddQuestion(Question{N("static.edge.example."), rrtype::kA, kClassIN}));
  EXPECT_TRUE(w.AddRecord(Section::kAnswer, A("static.edge.example.", "192.0.2.1")));
  EXPECT_TRUE(w.AddRecord(Section::kAnswer, A("static.edge.example.", "192.0.2.2")));
  size_t before = w.size();
  EXPECT_FALSE(w.AddRecord(Section::kAnswer, A("static.edge.example.", "192.0.2.3")));
  EXPECT_EQ(w.size(), before);
  EXPECT_FALSE(w.AddRecord(Section::kAnswer, A("other.example.", "192.0.2.3")));
  size_t n = w.Finish(Header{});
  absl::StatusOr<Message> back = ParseMessage({buf.data(), n});
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->answers.size(), 2u);
}

TEST(DnsWriterTest, ReservedTailIsKeptForOpt) {
  std::array<uint8_t, 512> buf;
  Edns e;
  e.udp_size = 1232;
  MessageWriter w(buf, 12 + 25 + 16 + OptSize(e));
  w.ReserveTail(OptSize(e));
  ASSERT_TRUE(w.AddQuestion(Question{N("static.edge.example."), rrtype::kA, kClassIN}));
  EXPECT_TRUE(w.AddRecord(Section::kAnswer, A("static.edge.example.", "192.0.2.1")));
  EXPECT_FALSE(w.AddRecord(Section::kAnswer, A("static.edge.example.", "192.0.2.2")));
  EXPECT_TRUE(w.AddOpt(e));
  size_t n = w.Finish(Header{});
  absl::StatusOr<Message> back = ParseMessage({buf.data(), n});
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(back->edns);
}

TEST(DnsWriterTest, EncodeFailsWhenTheBufferIsTooSmall) {
  std::array<uint8_t, 64> buf;
  EXPECT_FALSE(EncodeMessage(SampleResponse(), buf).ok());
}

}  // namespace
}  // namespace prewarm::dns
