#include "orchestrator/prefetch_book.h"

#include <gtest/gtest.h>

#include "orchestrator/test_util.h"
#include "store/memory_kv.h"

namespace prewarm::orchestrator {
namespace {

class PrefetchBookTest : public ::testing::Test {
 protected:
  PrefetchBookTest()
      : config_(testing::ThreeRegionConfig()),
        kv_(clock_),
        cache_(kv_, keys_),
        writer_(kv_, keys_),
        book_(config_, clock_, cache_, writer_) {
    EXPECT_TRUE(cache_.Start(1000).ok());
  }

  v1::PrefetchRequest Good() {
    v1::PrefetchRequest r;
    r.set_region("virginia");
    r.set_template_name("static");
    r.set_window_start_unix_ms(clock_.NowMs() + 1000);
    r.set_window_end_unix_ms(clock_.NowMs() + 61'000);
    r.set_target_concurrency(3);
    r.set_quantile(0.9);
    return r;
  }
  std::string Why(const v1::PrefetchRequest& r) { return std::string(book_.Validate(r).message()); }

  ManualClock clock_;
  OrchestratorConfig config_;
  store::MemoryKv kv_;
  Keys keys_;
  ClusterCache cache_;
  ClusterWriter writer_;
  PrefetchBook book_;
};

TEST_F(PrefetchBookTest, RejectsWhatCannotBeRightWithTheReason) {
  EXPECT_TRUE(book_.Validate(Good()).ok());
  auto r = Good();
  r.set_region("atlantis");
  EXPECT_NE(Why(r).find("unknown region 'atlantis'"), std::string::npos);
  r = Good();
  r.set_template_name("mystery");
  EXPECT_NE(Why(r).find("unknown template 'mystery'"), std::string::npos);
  r = Good();
  r.set_target_concurrency(config_.max_prefetch_target + 1);
  EXPECT_NE(Why(r).find("above the limit"), std::string::npos);
  r = Good();
  r.set_window_end_unix_ms(clock_.NowMs() - 1);
  r.set_window_start_unix_ms(clock_.NowMs() - 10);
  EXPECT_NE(Why(r).find("in the past"), std::string::npos);
  r = Good();
  r.set_quantile(1.5);
  EXPECT_NE(Why(r).find("quantile"), std::string::npos);
  r = Good();
  r.set_window_start_unix_ms(clock_.NowMs() + 2 * 86'400'000LL);
  r.set_window_end_unix_ms(clock_.NowMs() + 3 * 86'400'000LL);
  EXPECT_NE(Why(r).find("more than a day"), std::string::npos);
}

TEST_F(PrefetchBookTest, ATemplateAReloadAddedIsAcceptedOnceTheLiveConfigNamesIt) {
  auto r = Good();
  r.set_template_name("video-hd");
  EXPECT_NE(Why(r).find("unknown template 'video-hd'"), std::string::npos);
  auto live = std::make_shared<OrchestratorConfig>(config_);
  book_.SetLiveConfig([&live] { return std::shared_ptr<const OrchestratorConfig>(live); });
  EXPECT_NE(Why(r).find("unknown template 'video-hd'"), std::string::npos)
      << "not until a reload names it";
  live = std::make_shared<OrchestratorConfig>(config_);
  live->templates["video-hd"] = TemplateInfo{};
  EXPECT_TRUE(book_.Validate(r).ok()) << Why(r);
  EXPECT_TRUE(book_.Validate(Good()).ok());
}

TEST_F(PrefetchBookTest, AcceptIsAllOrNothingAndKeepsTheLatestPerKey) {
  v1::SubmitPrefetchRequest req;
  *req.add_requests() = Good();
  auto bad = Good();
  bad.set_region("atlantis");
  *req.add_requests() = bad;
  absl::Status st = book_.Accept(req).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(st.message()).find("requests[1]"), std::string::npos);
  EXPECT_TRUE(book_.List().empty());

  v1::SubmitPrefetchRequest ok;
  ok.set_forecaster_id("f1");
  *ok.add_requests() = Good();
  auto later = Good();
  later.set_target_concurrency(7);
  *ok.add_requests() = later;
  ASSERT_TRUE(book_.Accept(ok).ok());
  auto list = book_.List();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].request().target_concurrency(), 7u);
  EXPECT_EQ(list[0].forecaster_id(), "f1");
  clock_.Advance(120'000);
  EXPECT_TRUE(book_.Active().empty());
  EXPECT_EQ(book_.List().size(), 1u);
}

TEST_F(PrefetchBookTest, ActiveKeepsEveryWindowThatHasNotEnded) {
  // A rolling forecaster: each request's window starts later than the previous one. The
  // reconciler needs the older windows (they cover the nearer future); List shows the newest.
  auto submit = [&](uint32_t target) {
    v1::SubmitPrefetchRequest req;
    auto r = Good();
    r.set_window_start_unix_ms(clock_.NowMs() + 10'000);
    r.set_window_end_unix_ms(clock_.NowMs() + 16'000);
    r.set_target_concurrency(target);
    *req.add_requests() = r;
    ASSERT_TRUE(book_.Accept(req).ok());
  };
  for (uint32_t i = 1; i <= 5; ++i) {
    submit(i);
    clock_.Advance(1'000);
  }
  EXPECT_EQ(book_.List().size(), 1u);
  EXPECT_EQ(book_.List()[0].request().target_concurrency(), 5u);
  auto active = book_.Active();
  ASSERT_EQ(active.size(), 5u);
  EXPECT_EQ(active.front().request().target_concurrency(), 1u);
  EXPECT_LT(active.front().received_unix_ms(), active.back().received_unix_ms());
  // 16 s after the first was sent its window has ended; the others remain.
  clock_.Advance(16'000 - 5'000);
  EXPECT_EQ(book_.Active().size(), 4u);
  clock_.Advance(60'000);
  EXPECT_TRUE(book_.Active().empty());
  // Windows that ended are no longer active (the leader deletes them from the store).
  submit(9);
  EXPECT_EQ(book_.Active().size(), 1u);
}

}  // namespace
}  // namespace prewarm::orchestrator
