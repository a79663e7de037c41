#include "orchestrator/dashboard.h"

#include <gtest/gtest.h>

#include "nlohmann/json.hpp"
#include "orchestrator/test_util.h"
#include "orchestrator/ui_assets.h"

namespace prewarm::orchestrator {
namespace {

using nlohmann::json;

v1::RequestEventBatch Batch(const std::string& region, const std::string& tmpl, uint32_t n,
                            bool cold) {
  v1::RequestEventBatch b;
  v1::RequestEvent* e = b.add_events();
  e->set_region(region);
  e->set_template_name(tmpl);
  e->set_count(n);
  e->set_cold(cold);
  return b;
}

DashboardObservation At(int64_t now_ms) {
  DashboardObservation o;
  o.now_ms = now_ms;
  o.replica = "r1";
  o.leading = true;
  return o;
}

const json& Key(const json& state, const std::string& region, const std::string& tmpl) {
  for (const json& k : state["keys"]) {
    if (k["region"] == region && k["template"] == tmpl) return k;
  }
  static const json none;
  ADD_FAILURE() << "no key " << region << "/" << tmpl;
  return none;
}

class DashboardTest : public ::testing::Test {
 protected:
  OrchestratorConfig config_ = testing::ThreeRegionConfig();
  Dashboard dash_{config_};
};

TEST_F(DashboardTest, RequestsOfACutSecondLandInTheNextSampleOfTheirKey) {
  dash_.OnBatch(Batch("virginia", "static", 5, false));
  dash_.OnBatch(Batch("virginia", "static", 2, true));
  dash_.Record(At(1'000));
  dash_.Record(At(2'000));
  json s = json::parse(dash_.StateJson(0));
  const json& k = Key(s, "virginia", "static");
  EXPECT_EQ(k["t"], json({1'000, 2'000}));
  EXPECT_EQ(k["requests"], json({7, 0}));
  EXPECT_EQ(k["cold"], json({2, 0}));
  EXPECT_EQ(Key(s, "frankfurt", "static")["requests"], json({0, 0}));
}

TEST_F(DashboardTest, AnEventForAnUnknownKeyIsIgnored) {
  dash_.OnBatch(Batch("mars", "static", 5, false));
  dash_.Record(At(1'000));
  json s = json::parse(dash_.StateJson(0));
  EXPECT_EQ(s["keys"].size(), 3u * config_.templates.size());
}

TEST_F(DashboardTest, SinceReturnsOnlyNewerSamples) {
  for (int64_t t = 1; t <= 5; ++t) dash_.Record(At(t * 1'000));
  json s = json::parse(dash_.StateJson(3'000));
  EXPECT_EQ(Key(s, "frankfurt", "static")["t"], json({4'000, 5'000}));
  EXPECT_EQ(s["totals"]["t"], json({4'000, 5'000}));
  EXPECT_EQ(s["samples"], 5);
}

TEST_F(DashboardTest, HistoryIsBoundedToTheNewestSamples) {
  const int64_t n = static_cast<int64_t>(Dashboard::kHistory) + 50;
  for (int64_t t = 1; t <= n; ++t) dash_.Record(At(t * 1'000));
  json s = json::parse(dash_.StateJson(0));
  const json& k = Key(s, "singapore", "static");
  ASSERT_EQ(k["t"].size(), Dashboard::kHistory);
  EXPECT_EQ(k["t"].front(), 51'000);
  EXPECT_EQ(k["t"].back(), n * 1'000);
}

TEST_F(DashboardTest, TotalsArePerSecondIncreasesOfTheCounters) {
  DashboardObservation a = At(1'000);
  a.answers = 10, a.cold_answers = 2, a.cold_starts = 1;
  DashboardObservation b = At(2'000);
  b.answers = 25, b.cold_answers = 5, b.cold_starts = 1;
  dash_.Record(a);
  dash_.Record(b);
  json s = json::parse(dash_.StateJson(0));
  EXPECT_EQ(s["totals"]["answers"], json({0, 15}));
  EXPECT_EQ(s["totals"]["cold_answers"], json({0, 3}));
  EXPECT_EQ(s["totals"]["cold_starts"], json({0, 0}));
}

TEST_F(DashboardTest, NodesCarryTheirLocationAndInstancesByState) {
  DashboardObservation o = At(1'000);
  v1::NodeInfo n;
  n.set_node_id("iad-1");
  n.mutable_location()->set_region("virginia");
  n.mutable_location()->set_latitude(38.95);
  n.mutable_location()->set_longitude(-77.45);
  n.set_connected(true);
  o.nodes.push_back(n);
  o.node_instances[{"iad-1", "static"}].Add(v1::INSTANCE_STATE_READY, 2);
  o.node_instances[{"iad-1", "static"}].Add(v1::INSTANCE_STATE_STARTING, 1);
  o.node_instances[{"iad-1", "video"}].Add(v1::INSTANCE_STATE_DRAINING, 1);
  o.node_instances[{"fra-1", "static"}].Add(v1::INSTANCE_STATE_READY, 7);
  o.key_instances[{"virginia", "static"}].Add(v1::INSTANCE_STATE_READY, 2);
  dash_.Record(o);
  json s = json::parse(dash_.StateJson(0));
  ASSERT_EQ(s["nodes"].size(), 1u);
  const json& node = s["nodes"][0];
  EXPECT_EQ(node["lat"], 38.95);
  EXPECT_EQ(node["lon"], -77.45);
  EXPECT_EQ(node["instances"]["ready"], 2);
  EXPECT_EQ(node["instances"]["starting"], 1);
  EXPECT_EQ(node["instances"]["draining"], 1);
  EXPECT_EQ(node["templates"]["video"]["draining"], 1);
  EXPECT_EQ(Key(s, "virginia", "static")["ready"], json({2}));
}

// A window for (virginia, static) from 2 s to 62 s, received at 1 s.
v1::PrefetchEntry VirginiaWindow() {
  v1::PrefetchEntry e;
  e.set_received_unix_ms(1'000);
  v1::PrefetchRequest* r = e.mutable_request();
  r->set_region("virginia");
  r->set_template_name("static");
  r->set_window_start_unix_ms(2'000);
  r->set_window_end_unix_ms(62'000);
  return e;
}

TEST_F(DashboardTest, AWindowIsKeptOnceAfterItLeavesTheBookUntilItEndsBeforeTheHistory) {
  v1::PrefetchEntry e = VirginiaWindow();
  v1::PrefetchRequest* r = e.mutable_request();
  r->set_target_concurrency(3);
  r->set_quantile(0.9);
  r->set_forecast_rate_per_s(12.5);
  DashboardObservation o = At(1'000);
  o.windows.push_back(e);
  dash_.Record(o);
  dash_.Record(o);           // seen again: not a second window
  dash_.Record(At(70'000));  // ended and gone from the book: still drawn
  json s = json::parse(dash_.StateJson(0));
  ASSERT_EQ(s["windows"].size(), 1u);
  EXPECT_EQ(s["windows"][0]["target"], 3);
  EXPECT_EQ(s["windows"][0]["rate"], 12.5);
  EXPECT_EQ(s["windows"][0]["quantile"], 0.9);
  EXPECT_TRUE(s["windows"][0]["lower"].is_null());  // made by hand: no band
  EXPECT_TRUE(s["windows"][0]["upper"].is_null());
  dash_.Record(At(62'000 + static_cast<int64_t>(Dashboard::kHistory) * 1000 + 1));
  EXPECT_TRUE(json::parse(dash_.StateJson(0))["windows"].empty());
}

TEST_F(DashboardTest, AForecastersWindowCarriesItsMedianAndBothEdgesOfItsBand) {
  v1::PrefetchEntry e = VirginiaWindow();
  v1::PrefetchRequest* r = e.mutable_request();
  r->set_quantile(0.95);
  r->set_forecast_rate_per_s(14);
  r->set_median_rate_per_s(10);
  r->set_band_lower_quantile(0.1);
  r->set_band_lower_rate_per_s(7.5);
  r->set_band_upper_quantile(0.9);
  r->set_band_upper_rate_per_s(13);
  DashboardObservation o = At(1'000);
  o.windows.push_back(e);
  dash_.Record(o);
  json w = json::parse(dash_.StateJson(0))["windows"].at(0);
  EXPECT_EQ(w["rate"], 14);
  EXPECT_EQ(w["median"], 10);
  EXPECT_EQ(w["lower_quantile"], 0.1);
  EXPECT_EQ(w["lower"], 7.5);
  EXPECT_EQ(w["upper_quantile"], 0.9);
  EXPECT_EQ(w["upper"], 13);
}

TEST_F(DashboardTest, DecisionsKeepTheirReasons) {
  DashboardObservation o = At(1'000);
  o.decisions.push_back({.seq = 1,
                         .unix_ms = 900,
                         .kind = "create",
                         .reason = "prefetch",
                         .region = "virginia",
                         .tmpl = "static",
                         .node = "iad-1",
                         .instance = "",
                         .ok = true,
                         .detail = ""});
  dash_.Record(o);
  json s = json::parse(dash_.StateJson(0));
  ASSERT_EQ(s["decisions"].size(), 1u);
  EXPECT_EQ(s["decisions"][0]["reason"], "prefetch");
  EXPECT_EQ(s["decisions"][0]["node"], "iad-1");
}

TEST_F(DashboardTest, ANameThatIsNotUtf8IsReplacedNotThrownOn) {
  DashboardObservation o = At(1'000);
  v1::NodeInfo n;
  n.set_node_id(std::string("bad\xff\xfe", 5));
  o.nodes.push_back(n);
  dash_.Record(o);
  json s = json::parse(dash_.StateJson(0));
  EXPECT_EQ(s["nodes"][0]["id"].get<std::string>().substr(0, 3), "bad");
}

TEST(UiAssetsTest, ThePageItsScriptAndEachVendoredLibraryWithItsLicenceAreEmbedded) {
  std::map<std::string, std::string_view> by_path;
  for (const UiAsset& a : UiAssets()) by_path[std::string(a.path)] = a.data;
  for (const char* p :
       {"index.html", "dashboard.js", "dashboard.css", "vendor/uplot/uPlot.iife.min.js",
        "vendor/uplot/LICENSE", "vendor/topojson-client/topojson-client.min.js",
        "vendor/topojson-client/LICENSE", "vendor/world-atlas/land-110m.json",
        "vendor/world-atlas/LICENSE"}) {
    ASSERT_TRUE(by_path.contains(p)) << p;
    EXPECT_FALSE(by_path[p].empty()) << p;
  }
  EXPECT_NE(by_path["index.html"].find("dashboard.js"), std::string_view::npos);
  // The page names nothing outside the orchestrator.
  EXPECT_EQ(by_path["index.html"].find("http"), std::string_view::npos);
}

}  // namespace
}  // namespace prewarm::orchestrator
