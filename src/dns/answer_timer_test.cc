#include "dns/answer_timer.h"

#include <gtest/gtest.h>

#include <thread>

#include "dns/ldns_testutil.h"
#include "dns/static_resolver.h"
#include "dns/zone.h"

namespace prewarm::dns {
namespace {

void TimeQueries(AnswerTimer& t, int n) {
  for (int i = 0; i < n; ++i) t.Finish(t.Start());
}

TEST(AnswerTimerTest, TimesTheFirstQueryOfEachThreadThenOneIn64) {
  AnswerTimer t;
  TimeQueries(t, 1);
  EXPECT_EQ(t.Snapshot().count(), 1u);
  TimeQueries(t, 63);  // queries 2..64: none sampled
  EXPECT_EQ(t.Snapshot().count(), 1u);
  TimeQueries(t, 1);  // query 65
  EXPECT_EQ(t.Snapshot().count(), 2u);
}

TEST(AnswerTimerTest, MergesEveryThreadsSamplesAtSnapshot) {
  AnswerTimer t;
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) threads.emplace_back([&t] { TimeQueries(t, 130); });  // 3 each
  for (auto& th : threads) th.join();
  HistogramData h = t.Snapshot();
  EXPECT_EQ(h.count(), 12u);
  EXPECT_EQ(h.bounds(), buckets::kDnsAnswer);
  EXPECT_GE(h.sum(), 0);
}

TEST(AnswerTimerTest, EachTimerCountsOnlyItsOwnQueriesOnAThreadThatServesTwo) {
  AnswerTimer a, b;
  TimeQueries(a, 65);  // 2 samples
  TimeQueries(b, 1);   // 1
  TimeQueries(a, 64);  // 1 more
  EXPECT_EQ(a.Snapshot().count(), 3u);
  EXPECT_EQ(b.Snapshot().count(), 1u);
}

// The Authority times its own answers: 130 queries on one thread -> 3 samples.
TEST(AnswerTimerTest, AuthorityTimesOneAnswerIn64) {
  StaticResolver resolver{{{"static", ServiceAnswer{{*IpAddr::Parse("192.0.2.1")}, 20, 0}}}};
  ZoneConfig z;
  z.ns = {NsRecord{"ns1.edge.example.", {*IpAddr::Parse("198.51.100.53")}}};
  auto authority = Authority::Create(z, resolver);
  ASSERT_TRUE(authority.ok()) << authority.status();
  testing::QuerySpec q;
  q.name = "static.edge.example.";
  q.type = LDNS_RR_TYPE_A;
  std::vector<uint8_t> wire = testing::QueryWire(q);
  std::vector<uint8_t> out(4096);
  for (int i = 0; i < 130; ++i) {
    ASSERT_GT((*authority)->Answer(wire, ClientInfo{*IpAddr::Parse("127.0.0.1"), {}, false}, out),
              0u);
  }
  EXPECT_EQ((*authority)->answer_time().Snapshot().count(), 3u);
}

}  // namespace
}  // namespace prewarm::dns
