#include "orchestrator/event_feed.h"

#include <gtest/gtest.h>

#include <array>
#include <map>

#include "orchestrator/test_util.h"

namespace prewarm::orchestrator {
namespace {

const IpAddr kClient = *IpAddr::Parse("198.51.100.7");

class EventFeedTest : public ::testing::Test {
 protected:
  EventFeedTest() : config_(testing::ThreeRegionConfig()), feed_(config_, clock_) {}
  ManualClock clock_{1'700'000'000'000};
  OrchestratorConfig config_;
  EventFeed feed_;
};

TEST_F(EventFeedTest, CountsAreCutIntoOneEventPerRegionTemplateAndColdness) {
  auto sub = feed_.Subscribe(0);
  int sin = feed_.RegionIndex("singapore");
  int st = feed_.TemplateIndex("static");
  ASSERT_GE(sin, 0);
  ASSERT_GE(st, 0);
  EXPECT_EQ(feed_.RegionIndex("atlantis"), -1);
  for (int i = 0; i < 5; ++i) feed_.Record(sin, st, false, kClient);
  feed_.Record(sin, st, true, kClient);
  feed_.Record(-1, st, false, kClient);  // unknown region: ignored, not a crash
  clock_.Advance(1000);
  feed_.CutNow();
  auto batch = sub->Next(0);
  ASSERT_TRUE(batch.has_value());
  ASSERT_EQ(batch->events_size(), 2);
  EXPECT_EQ(batch->events(0).region(), "singapore");
  EXPECT_EQ(batch->events(0).template_name(), "static");
  EXPECT_EQ(batch->events(0).count(), 5u);
  EXPECT_FALSE(batch->events(0).cold());
  EXPECT_EQ(batch->events(1).count(), 1u);
  EXPECT_TRUE(batch->events(1).cold());
  EXPECT_EQ(batch->events(0).service_tier(), "standard");
  EXPECT_GT(batch->events(0).service_time_s(), 0);
  EXPECT_EQ(feed_.events_total(), 6u);
  // Nothing new: no empty batch.
  clock_.Advance(1000);
  feed_.CutNow();
  EXPECT_FALSE(sub->Next(0).has_value());
}

TEST_F(EventFeedTest, ContentCountsOfSeveralNodesAreSummedPerRegionTemplateAndIdInTheNextCut) {
  auto sub = feed_.Subscribe(0);
  google::protobuf::RepeatedPtrField<v1::ContentServed> a, b;
  auto add = [](auto& list, const std::string& id, uint64_t n, uint64_t bytes) {
    v1::ContentServed* c = list.Add();
    c->set_template_name("static");
    c->set_content_id(id);
    c->set_requests(n);
    c->set_size_bytes(bytes);
  };
  add(a, "x.css", 2, 10);
  add(b, "x.css", 5, 12);
  add(b, "y.js", 1, 7);
  feed_.AddContent("singapore", a);
  feed_.AddContent("singapore", b);
  feed_.AddContent("atlantis", b);  // a region this orchestrator does not serve
  const int64_t start = 1'700'000'000'000;
  clock_.Advance(1000);
  feed_.CutNow();  // no answers this second: the batch carries content only
  auto batch = sub->Next(0);
  ASSERT_TRUE(batch.has_value());
  EXPECT_EQ(batch->events_size(), 0);
  ASSERT_EQ(batch->contents_size(), 2);
  EXPECT_EQ(batch->contents(0).content_id(), "x.css");
  EXPECT_EQ(batch->contents(0).requests(), 7u);
  EXPECT_EQ(batch->contents(0).size_bytes(), 12u);  // the latest size
  EXPECT_EQ(batch->contents(0).region(), "singapore");
  EXPECT_EQ(batch->contents(0).unix_ms(), start);
  EXPECT_EQ(batch->contents(1).content_id(), "y.js");
  EXPECT_EQ(feed_.content_refused_total(), 2u);
}

TEST_F(EventFeedTest, ATemplateAReloadAddsIsCountedWithItsOwnSettings) {
  auto sub = feed_.Subscribe(0);
  const int sin = feed_.RegionIndex("singapore");
  const int st = feed_.TemplateIndex("static");
  EXPECT_EQ(feed_.TemplateIndex("video-hd"), -1);
  TemplateInfo info;
  info.tier = "premium";
  info.service_time_s = 2.5;
  absl::StatusOr<int> hd = feed_.AddTemplate("video-hd", info);
  ASSERT_TRUE(hd.ok()) << hd.status();
  EXPECT_EQ(feed_.TemplateIndex("video-hd"), *hd);
  EXPECT_NE(*hd, st);
  EXPECT_EQ(feed_.TemplateIndex("static"), st) << "an index never changes";
  feed_.Record(sin, *hd, false, kClient);
  feed_.Record(sin, *hd, false, kClient);
  feed_.Record(sin, *hd, true, kClient);
  feed_.Record(sin, st, false, kClient);
  google::protobuf::RepeatedPtrField<v1::ContentServed> content;
  v1::ContentServed* c = content.Add();
  c->set_template_name("video-hd");
  c->set_content_id("intro.mp4");
  c->set_requests(4);
  feed_.AddContent("singapore", content);
  clock_.Advance(1000);
  feed_.CutNow();
  auto batch = sub->Next(0);
  ASSERT_TRUE(batch.has_value());
  std::map<std::pair<std::string, bool>, const v1::RequestEvent*> by;
  for (const v1::RequestEvent& e : batch->events()) by[{e.template_name(), e.cold()}] = &e;
  ASSERT_EQ(by.size(), 3u);
  const v1::RequestEvent* warm = by[{"video-hd", false}];
  const v1::RequestEvent* cold = by[{"video-hd", true}];
  const v1::RequestEvent* other = by[{"static", false}];
  ASSERT_NE(warm, nullptr);
  EXPECT_EQ(warm->count(), 2u);
  EXPECT_EQ(warm->service_tier(), "premium");
  EXPECT_DOUBLE_EQ(warm->service_time_s(), 2.5);
  ASSERT_NE(cold, nullptr);
  EXPECT_EQ(cold->count(), 1u);
  ASSERT_NE(other, nullptr);
  EXPECT_EQ(other->count(), 1u);
  ASSERT_EQ(batch->contents_size(), 1);
  EXPECT_EQ(batch->contents(0).template_name(), "video-hd");
  EXPECT_EQ(feed_.content_refused_total(), 0u);

  // A later reload changes its settings: the same index, the new tier.
  info.tier = "standard";
  absl::StatusOr<int> again = feed_.AddTemplate("video-hd", info);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *hd);
  feed_.Record(sin, *hd, false, kClient);
  clock_.Advance(1000);
  feed_.CutNow();
  batch = sub->Next(0);
  ASSERT_TRUE(batch.has_value());
  ASSERT_EQ(batch->events_size(), 1);
  EXPECT_EQ(batch->events(0).service_tier(), "standard");
}

TEST_F(EventFeedTest, TemplatesBeyondTheSpareSlotsAreRefusedWithAReason) {
  for (size_t i = 0; i < EventFeed::kSpareTemplates; ++i) {
    ASSERT_TRUE(feed_.AddTemplate("t" + std::to_string(i), TemplateInfo{}).ok()) << i;
  }
  absl::StatusOr<int> full = feed_.AddTemplate("one-too-many", TemplateInfo{});
  ASSERT_FALSE(full.ok());
  EXPECT_NE(full.status().message().find("one-too-many"), std::string::npos);
  EXPECT_NE(full.status().message().find("until a restart"), std::string::npos);
  EXPECT_EQ(feed_.TemplateIndex("one-too-many"), -1);
  // The last slot taken still counts into its own cells, next to the first template's.
  const int last = feed_.TemplateIndex("t" + std::to_string(EventFeed::kSpareTemplates - 1));
  ASSERT_GE(last, 0);
  auto sub = feed_.Subscribe(0);
  const int sin = feed_.RegionIndex("singapore");
  const int va = feed_.RegionIndex("virginia");
  feed_.Record(sin, last, true, kClient);
  feed_.Record(va, 0, false, kClient);
  clock_.Advance(1000);
  feed_.CutNow();
  auto batch = sub->Next(0);
  ASSERT_TRUE(batch.has_value());
  ASSERT_EQ(batch->events_size(), 2);
  EXPECT_EQ(feed_.events_total(), 2u);
}

TEST_F(EventFeedTest, EventsCarryTheMeasuredServiceTimeOnceAWindowHasEnoughAnswers) {
  ServiceTimeMeter meter({.window_ms = 10'000, .min_answers = 20, .alpha = 0.3});
  feed_.SetServiceTimes(&meter);
  auto sub = feed_.Subscribe(0);
  int fra = feed_.RegionIndex("frankfurt");
  int st = feed_.TemplateIndex("static");
  const double configured = config_.templates.at("static").service_time_s;
  feed_.CutNow();  // opens the meter's window
  // 10 s: 4 answers a second, 2 connections open throughout (as the agents report them).
  for (int s = 0; s < 10; ++s) {
    for (int i = 0; i < 4; ++i) feed_.Record(fra, st, false, kClient);
    meter.AddConnectionSeconds("static", 2.0);
    clock_.Advance(1000);
    feed_.CutNow();
    auto batch = sub->Next(0);
    ASSERT_TRUE(batch.has_value());
    EXPECT_DOUBLE_EQ(batch->events(0).service_time_s(), configured) << "second " << s;
  }
  // Little's law: 20 connection-seconds / 40 answers = 0.5 s, sent from now on.
  ASSERT_TRUE(meter.Get("static"));
  EXPECT_DOUBLE_EQ(*meter.Get("static"), 0.5);
  feed_.Record(fra, st, false, kClient);
  clock_.Advance(1000);
  feed_.CutNow();
  auto batch = sub->Next(0);
  ASSERT_TRUE(batch.has_value());
  EXPECT_DOUBLE_EQ(batch->events(0).service_time_s(), 0.5);
}

TEST_F(EventFeedTest, ALateSubscriberGetsTheRetainedBacklogFirst) {
  int fra = feed_.RegionIndex("frankfurt");
  int st = feed_.TemplateIndex("static");
  int64_t t0 = clock_.NowMs();
  for (int s = 0; s < 3; ++s) {
    feed_.Record(fra, st, false, kClient);
    clock_.Advance(1000);
    feed_.CutNow();
  }
  auto all = feed_.Subscribe(t0 - 1);
  int got = 0;
  while (all->Next(0)) ++got;
  EXPECT_EQ(got, 3);
  auto recent = feed_.Subscribe(t0 + 1500);
  got = 0;
  while (recent->Next(0)) ++got;
  EXPECT_EQ(got, 2);
  feed_.Unsubscribe(all);
  feed_.Unsubscribe(recent);
  EXPECT_EQ(feed_.subscribers(), 0u);
}

// Sums the counts of one batch per (region, template), cold or not.
std::map<std::pair<std::string, std::string>, uint64_t> Counts(const v1::RequestEventBatch& b) {
  std::map<std::pair<std::string, std::string>, uint64_t> out;
  for (const auto& e : b.events()) out[{e.region(), e.template_name()}] += e.count();
  return out;
}

// Given a flood from one resolver whose queries carry forged client subnets of every
// region, each second counts at most the cap per (region, template): the flood's answers
// are answered, not counted as demand. The next second the network has its share again.
TEST(EventFeedCapTest, AForgedEcsFloodFromOneNetworkCountsAtMostItsShare) {
  ManualClock clock{1'700'000'000'000};
  OrchestratorConfig config = testing::ThreeRegionConfig();
  config.max_events_per_network_per_s = 50;
  EventFeed feed(config, clock);
  auto sub = feed.Subscribe(0);
  const int st = feed.TemplateIndex("static");
  const int regions[] = {feed.RegionIndex("frankfurt"), feed.RegionIndex("virginia"),
                         feed.RegionIndex("singapore")};
  for (int second = 0; second < 3; ++second) {
    for (uint32_t q = 0; q < 30'000; ++q) {
      // 127.0.0.1..254: one /24, whatever the forged ECS says the client is.
      IpAddr sender = IpAddr::V4(0x7F000001u + q % 254);
      feed.Record(regions[q % 3], st, q % 7 == 0, sender);
    }
    clock.Advance(1000);
    feed.CutNow();
    auto batch = sub->Next(0);
    ASSERT_TRUE(batch.has_value());
    for (const auto& [key, n] : Counts(*batch)) EXPECT_EQ(n, 50u) << key.first << " " << second;
    EXPECT_EQ(Counts(*batch).size(), 3u);
  }
  EXPECT_EQ(feed.events_total(), 3u * 3u * 50u);
  EXPECT_EQ(feed.capped_total(), 3u * (30'000u - 3u * 50u));
}

// Real demand comes from many networks: a thousand resolvers (127.0.0.0/16's /24s and
// IPv6 /56s), each under its cap, are all counted.
TEST(EventFeedCapTest, ManyNetworksUnderTheirCapAreAllCounted) {
  ManualClock clock{1'700'000'000'000};
  OrchestratorConfig config = testing::ThreeRegionConfig();
  config.max_events_per_network_per_s = 5;
  EventFeed feed(config, clock);
  auto sub = feed.Subscribe(0);
  const int fra = feed.RegionIndex("frankfurt");
  const int st = feed.TemplateIndex("static");
  for (uint32_t net = 0; net < 256; ++net) {
    for (int i = 0; i < 3; ++i) feed.Record(fra, st, false, IpAddr::V4(0x7F000000u | net << 8 | 9));
  }
  for (uint8_t net = 0; net < 200; ++net) {
    std::array<uint8_t, 16> b{0x20, 0x01, 0x0d, 0xb8, 0, 0, net, 0x42};  // a /56 each
    b[15] = 1;
    for (int i = 0; i < 3; ++i) feed.Record(fra, st, false, IpAddr::V6(b));
  }
  clock.Advance(1000);
  feed.CutNow();
  auto batch = sub->Next(0);
  ASSERT_TRUE(batch.has_value());
  // Hashed slots may collide; a collision costs a network some of its share, rarely.
  const uint64_t counted = Counts(*batch)[{"frankfurt", "static"}];
  EXPECT_GE(counted, (256u + 200u) * 3u * 99 / 100);
  EXPECT_LE(counted, (256u + 200u) * 3u);
  EXPECT_EQ(counted + feed.capped_total(), (256u + 200u) * 3u);
}

}  // namespace
}  // namespace prewarm::orchestrator
