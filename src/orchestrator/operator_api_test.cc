// The operator API beyond listings of the store: ListTemplates and ListForecasts, called
// on the service as gRPC would, on a replica whose agents the test plays.
#include <gtest/gtest.h>

#include "orchestrator/grpc_services.h"
#include "orchestrator/test_util.h"
#include "store/memory_kv.h"

namespace prewarm::orchestrator {
namespace {

using testing::RecordingLink;
using testing::TestReplica;

OrchestratorConfig Config(const std::string& replica) {
  OrchestratorConfig c = testing::WithLongLeases(testing::ThreeRegionConfig());
  c.cluster.replica_id = replica;
  return c;
}

class OperatorApiTest : public ::testing::Test {
 protected:
  OperatorApiTest() : config_(Config("a")), kv_(clock_), replica_(config_, clock_, kv_) {
    EXPECT_TRUE(replica_.Start().ok());
  }
  std::shared_ptr<RecordingLink> Fra() {
    return replica_.Connect("fra-1", "frankfurt", 50.11, 8.68, "127.77.1.0/24", {"127.77.1.1"});
  }
  // An instance of fra-1 the orchestrator knows (ordered by the cold path, then ready).
  std::string ReadyInstance(const std::shared_ptr<RecordingLink>& link) {
    EXPECT_TRUE(replica_.r().cold().Reserve("static", {"frankfurt", {50.11, 8.68}}));
    std::string id = link->Take().at(0).create().instance_id();
    replica_.Report("fra-1", id, v1::INSTANCE_STATE_READY, "127.77.1.1");
    return id;
  }

  ManualClock clock_;
  OrchestratorConfig config_;
  store::MemoryKv kv_;
  TestReplica replica_;
  OrchestratorServiceImpl service_{replica_.r()};
  grpc::ServerContext ctx_;
};

TEST_F(OperatorApiTest, ListTemplatesGivesTheConfigWithTheNodesAndInstancesOfEach) {
  auto link = Fra();
  ReadyInstance(link);
  v1::ListTemplatesResponse resp;
  ASSERT_TRUE(service_.ListTemplates(&ctx_, nullptr, &resp).ok());
  ASSERT_EQ(resp.templates_size(), 2);
  const v1::TemplateEntry& s = resp.templates(0);
  EXPECT_EQ(s.name(), "static");
  ASSERT_EQ(s.services_size(), 1);
  EXPECT_EQ(s.services(0), "static");
  EXPECT_EQ(s.tier(), "standard");
  EXPECT_DOUBLE_EQ(s.service_time_s(), 0.05);
  EXPECT_EQ(s.concurrency(), 10u);
  ASSERT_EQ(s.nodes_size(), 1);
  EXPECT_EQ(s.nodes(0), "fra-1");
  ASSERT_EQ(s.runtimes_size(), 1);
  EXPECT_EQ(s.runtimes(0), "fake");
  EXPECT_EQ(s.instances(), 1u);
  EXPECT_EQ(s.instances_ready(), 1u);
  EXPECT_EQ(resp.templates(1).name(), "video");
  EXPECT_EQ(resp.templates(1).instances(), 0u);
}

TEST_F(OperatorApiTest, ListForecastsGivesTheLatestForecastAndTheOpenWindowsPerKey) {
  const int64_t now = clock_.NowMs();
  auto submit = [&](const std::string& region, int64_t start, int64_t end, uint32_t target,
                    double q) {
    v1::SubmitPrefetchRequest req;
    req.set_forecaster_id("fc-1");
    auto* r = req.add_requests();
    r->set_region(region);
    r->set_template_name("static");
    r->set_window_start_unix_ms(start);
    r->set_window_end_unix_ms(end);
    r->set_target_concurrency(target);
    r->set_quantile(q);
    r->set_model("ets");
    r->set_forecast_rate_per_s(target * 2.5);
    auto rev = replica_.r().prefetch().Accept(req);
    ASSERT_TRUE(rev.ok()) << rev.status();
    clock_.Advance(10);
  };
  submit("frankfurt", now + 60'000, now + 120'000, 3, 0.9);  // received first, starts later
  submit("frankfurt", now + 1'000, now + 30'000, 2, 0.8);
  submit("frankfurt", now + 2'000, now + 3'000, 5, 0.95);  // the latest: ends first
  submit("virginia", now + 1'000, now + 60'000, 1, 0.7);
  clock_.Advance(5'000);  // the third window has ended
  replica_.Sync();
  v1::ListForecastsRequest req;
  v1::ListForecastsResponse resp;
  ASSERT_TRUE(service_.ListForecasts(&ctx_, &req, &resp).ok());
  EXPECT_EQ(resp.now_unix_ms(), clock_.NowMs());
  ASSERT_EQ(resp.keys_size(), 2);
  const v1::ForecastKey& fra = resp.keys(0);
  EXPECT_EQ(fra.region(), "frankfurt");
  EXPECT_EQ(fra.template_name(), "static");
  EXPECT_EQ(fra.latest().request().target_concurrency(), 5u);
  EXPECT_DOUBLE_EQ(fra.latest().request().quantile(), 0.95);
  EXPECT_EQ(fra.latest().forecaster_id(), "fc-1");
  ASSERT_EQ(fra.windows_size(), 2) << "the ended window is not open";
  EXPECT_EQ(fra.windows(0).request().target_concurrency(), 2u) << "by start";
  EXPECT_EQ(fra.windows(1).request().target_concurrency(), 3u);
  EXPECT_EQ(resp.keys(1).region(), "virginia");

  req.set_region("virginia");
  resp.Clear();
  ASSERT_TRUE(service_.ListForecasts(&ctx_, &req, &resp).ok());
  ASSERT_EQ(resp.keys_size(), 1);
  EXPECT_EQ(resp.keys(0).windows_size(), 1);
  req.set_template_name("video");
  resp.Clear();
  ASSERT_TRUE(service_.ListForecasts(&ctx_, &req, &resp).ok());
  EXPECT_EQ(resp.keys_size(), 0);
}

}  // namespace
}  // namespace prewarm::orchestrator
