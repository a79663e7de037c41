#include "forecast/service/forecaster.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <thread>

#include "common/promtool_testutil.h"
#include "forecast/service/forecaster_testutil.h"
#include "prewarm/v1/forecast.grpc.pb.h"
#include "prewarm/v1/orchestrator.grpc.pb.h"
#include "security/cluster_certs.h"
#include "security/tls.h"

namespace prewarm::forecast {
namespace {

constexpr int64_t kNow = 1'700'000'000'000;  // a multiple of the 10 s step

v1::RequestEvent Event(const std::string& region, int64_t unix_ms, uint32_t count) {
  v1::RequestEvent e;
  e.set_region(region);
  e.set_template_name("static");
  e.set_unix_ms(unix_ms);
  e.set_count(count);
  return e;
}

// An orchestrator replica as the forecaster sees it: a real gRPC server on an ephemeral
// 127.0.0.1 port with the event feed (it sends `batches`, then stays open) and
// SubmitPrefetch (accepts everything and keeps it).
class FakeReplica {
 public:
  explicit FakeReplica(std::vector<v1::RequestEventBatch> batches = {}, int port = 0,
                       const std::shared_ptr<grpc::ServerCredentials>& creds = nullptr)
      : feed_(*this), orch_(*this), batches_(std::move(batches)) {
    grpc::ServerBuilder b;
    b.AddListeningPort("127.0.0.1:" + std::to_string(port),
                       creds ? creds : grpc::InsecureServerCredentials(), &port_);
    b.RegisterService(&feed_);
    b.RegisterService(&orch_);
    server_ = b.BuildAndStart();
  }
  ~FakeReplica() { Kill(); }
  int port() const { return port_; }
  std::string target() const { return "127.0.0.1:" + std::to_string(port_); }
  void Kill() {
    if (!server_) return;
    server_->Shutdown(std::chrono::system_clock::now());
    server_->Wait();
    server_.reset();
  }
  std::vector<v1::StreamEventsRequest> subscriptions() {
    std::lock_guard<std::mutex> l(mu_);
    return subscriptions_;
  }
  std::vector<v1::SubmitPrefetchRequest> submits() {
    std::lock_guard<std::mutex> l(mu_);
    return submits_;
  }

 private:
  class Feed final : public v1::ForecastFeed::Service {
   public:
    explicit Feed(FakeReplica& r) : r_(r) {}
    grpc::Status StreamEvents(grpc::ServerContext* ctx, const v1::StreamEventsRequest* req,
                              grpc::ServerWriter<v1::RequestEventBatch>* w) override {
      std::vector<v1::RequestEventBatch> batches;
      {
        std::lock_guard<std::mutex> l(r_.mu_);
        r_.subscriptions_.push_back(*req);
        batches = r_.batches_;
      }
      for (const auto& b : batches) w->Write(b);
      while (!ctx->IsCancelled()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      return grpc::Status::OK;
    }

   private:
    FakeReplica& r_;
  };
  class Orch final : public v1::OrchestratorService::Service {
   public:
    explicit Orch(FakeReplica& r) : r_(r) {}
    grpc::Status SubmitPrefetch(grpc::ServerContext*, const v1::SubmitPrefetchRequest* req,
                                v1::SubmitPrefetchResponse* resp) override {
      std::lock_guard<std::mutex> l(r_.mu_);
      r_.submits_.push_back(*req);
      resp->set_accepted(static_cast<uint32_t>(req->requests_size()));
      return grpc::Status::OK;
    }

   private:
    FakeReplica& r_;
  };

  Feed feed_;
  Orch orch_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::mutex mu_;
  std::vector<v1::RequestEventBatch> batches_;
  std::vector<v1::StreamEventsRequest> subscriptions_;
  std::vector<v1::SubmitPrefetchRequest> submits_;
};

using testing::FlatForecaster;

bool Eventually(const std::function<bool()>& done) {
  for (int i = 0; i < 500; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

class ForecasterTest : public ::testing::Test {
 protected:
  ~ForecasterTest() override {
    if (daemon_) daemon_->Stop();
  }
  void Start(std::vector<std::string> orchestrators, security::TlsConfig tls = {},
             std::unique_ptr<DemandForecaster> forecaster = std::make_unique<FlatForecaster>()) {
    ForecasterConfig c;
    c.id = "fc-test";
    c.orchestrators = std::move(orchestrators);
    c.tls = std::move(tls);
    c.step_ms = 10'000;
    c.min_history_steps = 2;
    if (configure_) configure_(c);
    daemon_ = std::make_unique<ForecasterDaemon>(c, std::move(forecaster), clock_);
    absl::Status st = daemon_->Start();
    ASSERT_TRUE(st.ok()) << st;
  }
  static v1::RequestEventBatch Batch(std::vector<v1::RequestEvent> events, int64_t cut) {
    v1::RequestEventBatch b;
    for (auto& e : events) *b.add_events() = std::move(e);
    b.set_cut_unix_ms(cut);
    return b;
  }
  static std::vector<v1::RequestEventBatch> History() {
    return {Batch({Event("frankfurt", kNow - 30'000, 5), Event("frankfurt", kNow - 20'000, 5),
                   Event("frankfurt", kNow - 10'000, 5)},
                  kNow)};
  }

  ManualClock clock_{kNow};
  std::function<void(ForecasterConfig&)> configure_;
  std::unique_ptr<ForecasterDaemon> daemon_;
};

v1::ContentCount Content(std::string id, int64_t unix_ms, uint64_t requests, uint64_t bytes) {
  v1::ContentCount c;
  c.set_region("frankfurt");
  c.set_template_name("static");
  c.set_content_id(std::move(id));
  c.set_unix_ms(unix_ms);
  c.set_requests(requests);
  c.set_size_bytes(bytes);
  return c;
}

// The edge's per-content counts ride the event feed; each round's PrefetchRequest names the
// configured content, then the top-K ranked, within the template's scratch size.
TEST_F(ForecasterTest, ContentCountsFromTheFeedBecomeTheTrendingIdsOfEachPrefetch) {
  v1::RequestEventBatch batch = History()[0];
  const int64_t earlier = kNow - 700'000;  // in a ranking window that has closed by kNow
  *batch.add_contents() = Content("huge.iso", earlier, 50, 1ULL << 34);  // over the scratch
  *batch.add_contents() = Content("hot.css", earlier, 30, 100);
  *batch.add_contents() = Content("warm.js", earlier, 5, 200);
  *batch.add_contents() = Content("cold.png", earlier, 1, 100);
  *batch.add_contents() = Content("../../etc/passwd", earlier, 99, 1);   // refused
  *batch.add_contents() = Content("late.css", kNow + 3'600'000, 99, 1);  // from the future
  FakeReplica a({batch});
  configure_ = [](ForecasterConfig& c) {
    c.trending_top_k = 2;
    c.templates["static"].preload = {"index.html"};
    c.templates["static"].scratch_bytes = 1000;
  };
  Start({a.target()});
  ASSERT_TRUE(Eventually([&] { return daemon_->stats().batches == 1; }));
  EXPECT_EQ(daemon_->stats().content_counts, 4u);
  EXPECT_EQ(daemon_->stats().content_rejected, 2u);
  ASSERT_TRUE(daemon_->PlanOnce().ok());
  ASSERT_EQ(a.submits().size(), 1u);
  const v1::PrefetchRequest r = a.submits()[0].requests(0);
  EXPECT_EQ(std::vector<std::string>(r.content_ids().begin(), r.content_ids().end()),
            (std::vector<std::string>{"index.html", "hot.css", "warm.js"}));
  EXPECT_EQ(r.content_ranking(), "h=256w");  // one window seen: the steadiest estimator
  EXPECT_EQ(daemon_->stats().trending_tracked, 4u);
  EXPECT_NE(daemon_->RenderMetrics().find(
                "prewarm_forecaster_content_counts_total{result=\"rejected\"} 2"),
            std::string::npos);
}

TEST_F(ForecasterTest, CountsFromEveryReplicaAreAddedIntoOneSeries) {
  FakeReplica a(
      {Batch({Event("frankfurt", kNow - 20'000, 3), Event("frankfurt", kNow - 10'000, 1)}, kNow)});
  FakeReplica b({Batch({Event("frankfurt", kNow - 20'000, 4), Event("virginia", kNow - 10'000, 2)},
                       kNow - 5'000)});
  Start({a.target(), b.target()});
  ASSERT_TRUE(Eventually([&] { return daemon_->stats().batches == 2; }));
  EXPECT_EQ(daemon_->stats().events, 10u);
  Series fra = daemon_->store().Snapshot({"frankfurt", "static"}, kNow);
  ASSERT_EQ(fra.size(), 2u);
  EXPECT_EQ(fra.values[0], 7) << "3 answers at one replica + 4 at the other";
  EXPECT_EQ(fra.values[1], 1);
  Series vir = daemon_->store().Snapshot({"virginia", "static"}, kNow);
  ASSERT_EQ(vir.size(), 1u);
  EXPECT_EQ(vir.values[0], 2);
  EXPECT_TRUE(Eventually([&] { return daemon_->stats().feeds_connected == 2; }));
}

// Flat, except that one region's series always fails to forecast.
class FailingForecaster final : public DemandForecaster {
 public:
  absl::StatusOr<std::vector<double>> Quantile(const SeriesKey& key, const Series& history, int h,
                                               double q) override {
    if (key.first == "virginia") return absl::InternalError("the model did not converge");
    return flat_.Quantile(key, history, h, q);
  }
  std::string model_name() const override { return "flat"; }
  FitStats fit_stats() const override {
    FitStats s;
    s.refits = 2;
    s.refit_seconds.Observe(0.02);
    s.refit_seconds.Observe(0.2);
    return s;
  }

 private:
  FlatForecaster flat_;
};

// /metrics: series, prefetch requests sent per region and template, forecast errors, fits.
TEST_F(ForecasterTest, MetricsCountSeriesRequestsErrorsAndFits) {
  FakeReplica a({Batch({Event("frankfurt", kNow - 20'000, 5), Event("frankfurt", kNow - 10'000, 5),
                        Event("virginia", kNow - 20'000, 2), Event("virginia", kNow - 10'000, 2)},
                       kNow)});
  Start({a.target()}, {}, std::make_unique<FailingForecaster>());
  ASSERT_TRUE(Eventually([&] { return daemon_->stats().batches == 1; }));
  ASSERT_TRUE(daemon_->PlanOnce().ok());
  ASSERT_TRUE(daemon_->PlanOnce().ok());
  const std::string text = daemon_->RenderMetrics();
  for (const char* line : {
           "prewarm_forecaster_series 2\n",
           "prewarm_forecaster_prefetch_requests_total{region=\"frankfurt\",template=\"static\"} "
           "2\n",
           "prewarm_forecaster_forecast_errors_total 2\n",
           "prewarm_forecaster_refits_total{result=\"ok\"} 2\n",
           "prewarm_forecaster_refit_duration_seconds_count 2\n",
           "prewarm_forecaster_refit_duration_seconds_bucket{le=\"0.05\"} 1\n",
           "prewarm_forecaster_events_total 14\n",
           "prewarm_build_info{",
       }) {
    EXPECT_NE(text.find(line), std::string::npos) << line << "\n" << text;
  }
  EXPECT_EQ(text.find("region=\"virginia\""), std::string::npos) << text;
  if (PromtoolPath().empty()) GTEST_SKIP() << "promtool is not installed";
  absl::Status st = PromtoolCheckMetrics(text);
  EXPECT_TRUE(st.ok()) << st;
}

TEST_F(ForecasterTest, EachFeedReconnectsOnItsOwnAskingForItsOwnBacklog) {
  auto a = std::make_unique<FakeReplica>(
      std::vector{Batch({Event("frankfurt", kNow - 10'000, 1)}, kNow)});
  FakeReplica b({Batch({Event("frankfurt", kNow - 10'000, 1)}, kNow - 5'000)});
  int a_port = a->port();
  Start({a->target(), b.target()});
  ASSERT_TRUE(Eventually([&] { return daemon_->stats().batches == 2; }));
  EXPECT_EQ(a->subscriptions().at(0).since_unix_ms(), 0) << "first connect: live events only";
  a->Kill();
  a = std::make_unique<FakeReplica>(std::vector<v1::RequestEventBatch>{}, a_port);
  ASSERT_TRUE(Eventually([&] { return !a->subscriptions().empty(); }));
  EXPECT_EQ(a->subscriptions().at(0).since_unix_ms(), kNow) << "a's own last cut, not b's";
  EXPECT_EQ(b.subscriptions().size(), 1u) << "b's feed was not disturbed";
}

TEST_F(ForecasterTest, APrefetchRoundFailsOverToTheNextReplicaAndStaysThere) {
  auto a = std::make_unique<FakeReplica>();
  int a_port = a->port();
  std::string a_target = a->target();
  a->Kill();  // the first replica is down
  FakeReplica b(History());
  Start({a_target, b.target()});
  ASSERT_TRUE(Eventually([&] { return daemon_->stats().batches == 1; }));
  absl::Status st = daemon_->PlanOnce();
  ASSERT_TRUE(st.ok()) << st;
  ASSERT_FALSE(b.submits().empty());
  EXPECT_EQ(b.submits().back().requests(0).region(), "frankfurt");
  EXPECT_EQ(daemon_->stats().submitted_to, b.target());
  // a is back, but b accepted last: the next round goes to b first.
  a = std::make_unique<FakeReplica>(std::vector<v1::RequestEventBatch>{}, a_port);
  size_t before = b.submits().size();
  ASSERT_TRUE(daemon_->PlanOnce().ok());
  EXPECT_EQ(b.submits().size(), before + 1);
  // b dies: round the list to a.
  b.Kill();
  ASSERT_TRUE(daemon_->PlanOnce().ok());
  EXPECT_FALSE(a->submits().empty());
  EXPECT_EQ(daemon_->stats().submitted_to, a_target);
}

TEST_F(ForecasterTest, ARoundNoReplicaAcceptsIsAnErrorNamingEach) {
  FakeReplica a(History()), b;
  Start({a.target(), b.target()});
  ASSERT_TRUE(Eventually([&] { return daemon_->stats().batches == 1; }));
  a.Kill();
  b.Kill();
  absl::Status st = daemon_->PlanOnce();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find(a.target()), std::string::npos) << st;
  EXPECT_NE(st.message().find(b.target()), std::string::npos) << st;
  EXPECT_EQ(daemon_->stats().rejected_calls, 1u);
}

TEST_F(ForecasterTest, OverMutualTlsItSubscribesAndSubmitsWithItsOwnCertificate) {
  char tmpl[] = "/tmp/forecaster_test.XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  ASSERT_TRUE(security::InitCertDir(dir, security::DefaultClusterPlan(), true).ok());
  security::TlsConfig server{dir + "/ca.crt", dir + "/orchestrator-1.crt",
                             dir + "/orchestrator-1.key"};
  auto creds = security::ServerCredentials(server, *HostPort::Parse("127.0.0.1:0"));
  ASSERT_TRUE(creds.ok()) << creds.status();
  FakeReplica a(History(), 0, *creds);
  Start({a.target()}, {dir + "/ca.crt", dir + "/forecaster.crt", dir + "/forecaster.key"});
  ASSERT_TRUE(Eventually([&] { return daemon_->stats().batches == 1; }));
  absl::Status st = daemon_->PlanOnce();
  EXPECT_TRUE(st.ok()) << st;
  EXPECT_EQ(a.submits().size(), 1u);
  daemon_->Stop();
  std::filesystem::remove_all(dir);
}

TEST(ForecasterConfigTest, OrchestratorsAreAListAndTheSingleFormStillWorks) {
  auto parse = [](const std::string& text) {
    auto r = YamlReader::FromString(text, "f.yaml");
    return r.ok() ? ParseForecasterConfig(*r) : absl::StatusOr<ForecasterConfig>(r.status());
  };
  EXPECT_EQ(parse("id: x\n")->orchestrators, std::vector<std::string>{"127.0.0.1:7400"});
  EXPECT_EQ(parse("orchestrator: 127.0.0.2:7400\n")->orchestrators,
            std::vector<std::string>{"127.0.0.2:7400"});
  EXPECT_EQ(parse("orchestrators: [127.0.0.1:7400, 127.0.0.2:7400]\n")->orchestrators,
            (std::vector<std::string>{"127.0.0.1:7400", "127.0.0.2:7400"}));
  auto both = parse("orchestrator: 127.0.0.1:7400\norchestrators: [127.0.0.2:7400]\n");
  ASSERT_FALSE(both.ok());
  EXPECT_NE(both.status().message().find("not both"), std::string::npos) << both.status();
  for (const char* bad : {"[]", "[nope]", "[127.0.0.1:1, 127.0.0.1:1]"}) {
    auto c = parse(std::string("orchestrators: ") + bad + "\n");
    ASSERT_FALSE(c.ok()) << bad;
    EXPECT_NE(c.status().message().find("f.yaml:1: orchestrators"), std::string::npos)
        << c.status();
  }
}

TEST(ForecasterConfigTest, TheSparseThresholdIsPerMinuteAndTheOldPerStepNameSaysSo) {
  auto parse = [](const std::string& text) {
    auto r = YamlReader::FromString(text, "f.yaml");
    return r.ok() ? ParseForecasterConfig(*r) : absl::StatusOr<ForecasterConfig>(r.status());
  };
  EXPECT_DOUBLE_EQ(parse("id: x\n")->min_arrivals_per_min, 1.0);
  EXPECT_DOUBLE_EQ(parse("min_arrivals_per_min: 0\n")->min_arrivals_per_min, 0.0);
  EXPECT_DOUBLE_EQ(parse("min_arrivals_per_min: 2.5\n")->min_arrivals_per_min, 2.5);
  EXPECT_FALSE(parse("min_arrivals_per_min: -1\n").ok());
  auto old = parse("min_mean_per_step: 1\n");
  ASSERT_FALSE(old.ok());
  EXPECT_NE(old.status().message().find("renamed min_arrivals_per_min"), std::string::npos)
      << old.status();
}

TEST(ForecasterConfigTest, TheExampleParsesWithAndWithoutItsTlsLine) {
  std::ifstream in(std::string(PREWARM_EXAMPLES) + "/forecaster.yaml");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Read from a string, its template_dir is not beside a file: name where it is.
  text.replace(text.find("template_dir: templates.d"), 25,
               "template_dir: " + std::string(PREWARM_EXAMPLES) + "/templates.d");
  auto r = YamlReader::FromString(text, "forecaster.yaml");
  ASSERT_TRUE(r.ok()) << r.status();
  auto plain = ParseForecasterConfig(*r);
  ASSERT_TRUE(plain.ok()) << plain.status();
  // examples/orchestrator.yaml's gRPC address (cli_test ExampleConfigsTest checks they agree).
  EXPECT_EQ(plain->orchestrators, std::vector<std::string>{"127.0.0.1:7401"});
  EXPECT_FALSE(plain->tls.enabled());
  EXPECT_TRUE(plain->templates.contains("static")) << "from examples/templates.d";
  text.replace(text.find("# tls:"), 6, "tls:");
  r = YamlReader::FromString(text, "forecaster.yaml");
  ASSERT_TRUE(r.ok()) << r.status();
  auto tls = ParseForecasterConfig(*r);
  ASSERT_TRUE(tls.ok()) << tls.status();
  EXPECT_EQ(tls->tls.cert_file, "/etc/prewarm/forecaster.crt");
  EXPECT_EQ(plain->trending_refresh_ms, 600'000);
  r = YamlReader::FromString("trending_refresh_s: 5\n", "f.yaml");
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(ParseForecasterConfig(*r).ok());
}

TEST(SeriesStoreTest, ObservedRangesMarkedOutOfOrderAreMerged) {
  SeriesStore store(1000, 100);
  SeriesKey k{"r", "t"};
  store.Add(k, 0, 1);
  store.MarkObserved(6000, 8000);  // one feed
  store.MarkObserved(0, 2000);     // another, behind
  store.MarkObserved(1000, 4000);  // overlapping the second
  Series s = store.Snapshot(k, 9000);
  ASSERT_EQ(s.size(), 9u);
  std::vector<bool> observed;
  for (double v : s.values) observed.push_back(!IsMissing(v));
  EXPECT_EQ(observed, (std::vector<bool>{true, true, true, true, false, false, true, true, false}));
}

}  // namespace
}  // namespace prewarm::forecast
