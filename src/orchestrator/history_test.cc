#include "orchestrator/history.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace prewarm::orchestrator {
namespace {

class HistoryTest : public ::testing::Test {
 protected:
  HistoryTest() {
    char tmpl[] = "/tmp/prewarm-history-test.XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  ~HistoryTest() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<HistoryRecorder> Open(const std::string& replica) {
    files_.push_back(dir_ + "/" + replica + ".jsonl");
    auto r = HistoryRecorder::Open(files_.back(), replica, clock_);
    EXPECT_TRUE(r.ok());
    return std::move(*r);
  }
  static v1::NodeStatus Status(
      const std::string& node,
      std::vector<std::tuple<std::string, std::string, v1::InstanceState>> inst) {
    v1::NodeStatus st;
    st.set_node_id(node);
    for (const auto& [id, addr, state] : inst) {
      auto* i = st.add_instances();
      i->set_instance_id(id);
      i->set_address(addr);
      i->set_state(state);
    }
    return st;
  }
  HistoryCheck Check(int64_t allowance_ms = 500) {
    auto c = CheckHistory(files_, allowance_ms);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *c : HistoryCheck{};
  }

  ManualClock clock_;
  std::string dir_;
  std::vector<std::string> files_;
};

const IpAddr kA = *IpAddr::Parse("127.77.1.1");

TEST_F(HistoryTest, AnOrderlyLifeHasNoViolations) {
  auto r1 = Open("r1");
  auto r2 = Open("r2");
  r1->Report(Status("fra-1", {{"i1", "127.77.1.1", v1::INSTANCE_STATE_READY}}));
  clock_.Advance(10);
  r1->Answer("i1", kA);
  r2->Answer("i1", kA);
  clock_.Advance(10);
  r2->Report(Status("fra-1", {{"i1", "127.77.1.1", v1::INSTANCE_STATE_GONE}}));
  clock_.Advance(10);
  r1->Report(Status("fra-1", {{"i2", "127.77.1.1", v1::INSTANCE_STATE_READY}}));
  r1->Answer("i2", kA);
  HistoryCheck c = Check();
  EXPECT_EQ(c.violation_count, 0u) << (c.violations.empty() ? "" : c.violations[0]);
  EXPECT_EQ(c.answers, 3u);
  EXPECT_EQ(c.instances, 2u);
  EXPECT_EQ(c.reports, 3u);
}

TEST_F(HistoryTest, AnAnswerAfterTheEndIsAViolationPastTheAllowance) {
  auto r1 = Open("r1");
  r1->Report(Status("fra-1", {{"i1", "127.77.1.1", v1::INSTANCE_STATE_READY}}));
  clock_.Advance(10);
  r1->Report(Status("fra-1", {}));  // no longer listed: ended
  clock_.Advance(100);
  r1->Answer("i1", kA);  // within the allowance
  clock_.Advance(1000);
  r1->Answer("i1", kA);  // not
  HistoryCheck c = Check(500);
  EXPECT_EQ(c.answers_within_allowance, 1u);
  ASSERT_EQ(c.violation_count, 1u);
  EXPECT_NE(c.violations[0].find("answered i1 (127.77.1.1) 1100 ms after it ended"),
            std::string::npos)
      << c.violations[0];
}

TEST_F(HistoryTest, TwoLiveInstancesOnOneAddressIsAViolation) {
  auto r1 = Open("r1");
  r1->Report(Status("fra-1", {{"i1", "127.77.1.1", v1::INSTANCE_STATE_READY},
                              {"i2", "127.77.1.1", v1::INSTANCE_STATE_STARTING}}));
  HistoryCheck c = Check();
  ASSERT_EQ(c.violation_count, 1u);
  EXPECT_NE(c.violations[0].find("address 127.77.1.1 held by i1"), std::string::npos)
      << c.violations[0];
}

TEST_F(HistoryTest, ARepeatedReportIsWrittenOnce) {
  auto r1 = Open("r1");
  for (int i = 0; i < 5; ++i)
    r1->Report(Status("fra-1", {{"i1", "127.77.1.1", v1::INSTANCE_STATE_READY}}));
  EXPECT_EQ(Check().reports, 1u);
}

TEST_F(HistoryTest, AMalformedFileIsAClearError) {
  files_.push_back(dir_ + "/bad.jsonl");
  std::ofstream(files_.back()) << "{\"t\":1,\"k\":\"report\",\"inst\":[[1,2]]}\n";
  auto c = CheckHistory(files_, 500);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("malformed report"), std::string::npos) << c.status();
  std::ofstream(files_.back()) << "not json\n";
  c = CheckHistory(files_, 500);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("bad.jsonl:1"), std::string::npos) << c.status();
}

}  // namespace
}  // namespace prewarm::orchestrator
