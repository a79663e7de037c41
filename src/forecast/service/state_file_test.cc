#include "forecast/service/state_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "common/clock.h"
#include "forecast/service/forecaster.h"
#include "forecast/service/forecaster_testutil.h"
#include "security/ossl.h"

namespace prewarm::forecast {
namespace {

constexpr int64_t kStep = 10'000;

SeriesStore::Image Sample() {
  SeriesStore store(kStep, 100);
  store.Add({"frankfurt", "static"}, 5 * kStep, 3);
  store.Add({"frankfurt", "static"}, 7 * kStep, 2.5);
  store.Add({"singapore", "video"}, 9 * kStep, 1e6);
  store.MarkObserved(4 * kStep, 8 * kStep);
  return store.Export();
}

SavedState SampleState() {
  SavedState s;
  s.step_ms = kStep;
  s.saved_unix_ms = 10 * kStep;
  s.image = Sample();
  return s;
}

TEST(StateFileTest, AStoreSurvivesEncodeAndDecodeStepForStep) {
  std::string bytes = EncodeState(SampleState());
  auto back = DecodeState(bytes, kStep, "h.bin");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->saved_unix_ms, 10 * kStep);
  SeriesStore restored(kStep, 100);
  restored.Import(std::move(back->image));
  Series fra = restored.Snapshot({"frankfurt", "static"}, 10 * kStep);
  ASSERT_EQ(fra.size(), 5u);  // steps 5..9
  EXPECT_EQ(fra.values[0], 3);
  EXPECT_EQ(fra.values[1], 0) << "observed, nothing came: a real zero";
  EXPECT_EQ(fra.values[2], 2.5);
  EXPECT_TRUE(IsMissing(fra.values[3])) << "step 8 was not observed: still a gap";
  Series sin = restored.Snapshot({"singapore", "video"}, 10 * kStep);
  ASSERT_EQ(sin.size(), 1u);
  EXPECT_EQ(sin.values[0], 1e6);
}

TEST(StateFileTest, ImportKeepsOnlyTheNewestCapacitySteps) {
  SeriesStore small(kStep, 2);
  small.Import(Sample());
  Series fra = small.Snapshot({"frankfurt", "static"}, 8 * kStep);
  ASSERT_EQ(fra.size(), 2u);  // steps 6..7 of 5..7
  EXPECT_EQ(fra.start_ms, 6 * kStep);
  EXPECT_EQ(fra.values[1], 2.5);
}

TEST(StateFileTest, EveryDamagedFileIsAnErrorNamingIt) {
  const std::string good = EncodeState(SampleState());
  auto fails = [](const std::string& bytes, std::string_view what) {
    auto r = DecodeState(bytes, kStep, "h.bin");
    EXPECT_FALSE(r.ok()) << what;
    if (!r.ok()) {
      EXPECT_NE(r.status().message().find("h.bin"), std::string::npos) << r.status();
    }
  };
  fails("", "empty");
  fails("hello world, not a state", "no magic");
  // Every truncation, and a flipped bit in every byte, is caught (by the checksum or a
  // length check); none decodes.
  for (size_t n = 0; n < good.size(); ++n) fails(good.substr(0, n), "truncated");
  for (size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x10);
    fails(bad, "bit flip");
  }
  auto step = DecodeState(good, 60'000, "h.bin");
  ASSERT_FALSE(step.ok());
  EXPECT_NE(step.status().message().find("step of 10000 ms"), std::string::npos) << step.status();
}

TEST(StateFileTest, ALengthOrCountThatLiesIsRejectedBeforeAllocating) {
  // A series that claims 2^60 steps, under a valid checksum: decoding must refuse it
  // from the lengths, not try to allocate it.
  SavedState s = SampleState();
  s.image.tracks.resize(1);
  s.image.tracks[0].counts = {1.0f};
  std::string bytes = EncodeState(s);
  const size_t n_at = bytes.size() - 4 - 4 - 8;  // before the one float and the crc
  const uint64_t huge = uint64_t{1} << 60;
  std::memcpy(bytes.data() + n_at, &huge, 8);
  const uint32_t crc = StateChecksum(std::string_view(bytes).substr(0, bytes.size() - 4));
  std::memcpy(bytes.data() + bytes.size() - 4, &crc, 4);
  auto r = DecodeState(bytes, kStep, "h.bin");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("more than the file holds"), std::string::npos) << r.status();

  // A negative count, checksummed, is rejected too.
  s.image.tracks[0].counts = {-7.0f};
  r = DecodeState(EncodeState(s), kStep, "h.bin");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("is not a count"), std::string::npos) << r.status();
}

class StateDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("prewarm-state-test-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    history_ = (dir_ / "history.csv").string();
    std::ofstream(history_) << "timestamp,region,template,count\n"
                            << "100,frankfurt,static,4\n"
                            << "110,frankfurt,static,6\n";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // One daemon lifetime: start (restoring and seeding), then stop (saving).
  Series Run(int64_t now_ms, bool with_history) {
    ForecasterConfig c;
    c.id = "fc-state-test";
    c.orchestrators = {"127.0.0.1:1"};  // nothing listens: the feed only retries
    c.step_ms = kStep;
    c.state_dir = (dir_ / "state").string();
    if (with_history) c.history = {history_};
    ManualClock clock(now_ms);
    ForecasterDaemon d(c, std::make_unique<testing::FlatForecaster>(), clock);
    absl::Status st = d.Start();
    EXPECT_TRUE(st.ok()) << st;
    Series s = d.store().Snapshot({"frankfurt", "static"}, now_ms, 100'000);
    d.Stop();
    return s;
  }

  std::filesystem::path dir_;
  std::string history_;
};

TEST_F(StateDirTest, ARestartKeepsTheSeriesAndDoesNotCountItsHistoryTwice) {
  Series first = Run(200'000, true);
  ASSERT_EQ(first.size(), 10u);
  EXPECT_EQ(first.values[0], 4);
  EXPECT_EQ(first.values[1], 6);
  ASSERT_TRUE(std::filesystem::exists(dir_ / "state" / "history.bin"));

  // Restarted without the history file: the series is still there.
  Series without = Run(300'000, false);
  ASSERT_GE(without.size(), 2u);
  EXPECT_EQ(without.values[0], 4);
  EXPECT_EQ(without.values[1], 6);
  // Restarted with it again: not added a second time.
  Series again = Run(400'000, true);
  ASSERT_GE(again.size(), 2u);
  EXPECT_EQ(again.values[0], 4);
  EXPECT_EQ(again.values[1], 6);
}

TEST_F(StateDirTest, ADamagedStateIsMovedAsideAndTheDaemonStartsWithoutIt) {
  Run(200'000, true);
  const auto path = dir_ / "state" / "history.bin";
  std::string bytes = *security::ReadFile(path.string());
  bytes[bytes.size() / 2] ^= 0x01;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;

  Series after = Run(300'000, false);
  EXPECT_TRUE(after.values.empty() || IsMissing(after.values[0])) << "nothing of it is used";
  size_t aside = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir_ / "state")) {
    if (e.path().filename().string().starts_with("history.bin.unusable-")) ++aside;
  }
  EXPECT_EQ(aside, 1u) << "kept for the operator, not deleted";
}

}  // namespace
}  // namespace prewarm::forecast
