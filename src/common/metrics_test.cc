#include "common/metrics.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "common/metrics_server.h"
#include "common/promtool_testutil.h"
#include "common/version.h"
#include "fmt/format.h"

namespace prewarm {
namespace {

// Label values an operator can put in a config: a region named `eu"west`, a template with
// a backslash, a newline, and non-ASCII text.
MetricsText HostileMetrics() {
  MetricsText m;
  m.Gauge("prewarm_prefetch_target", "Latest target per \"region\" and template\\\nsecond line.");
  m.Add(3, {{"region", "eu\"west"}, {"template", "st\\atic"}});
  m.Add(1, {{"region", "multi\nline"}, {"template", "caf\xc3\xa9"}});
  m.Add(2, {{"region", "\\\"\n"}, {"template", ""}});
  m.Counter("prewarm_dns_queries_total", "DNS queries received, by transport.");
  m.Add(12345678, {{"transport", "udp"}});
  m.Gauge("prewarm_nodes", "Agents connected.");
  m.Add(0);
  return m;
}

TEST(MetricsTextTest, HostileLabelValuesAreEscapedAsTheTextFormatRequires) {
  std::string text = HostileMetrics().Render();
  EXPECT_NE(text.find("prewarm_prefetch_target{region=\"eu\\\"west\",template=\"st\\\\atic\"} 3\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("{region=\"multi\\nline\",template=\"caf\xc3\xa9\"} 1\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("{region=\"\\\\\\\"\\n\",template=\"\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("# HELP prewarm_prefetch_target Latest target per \"region\" and "
                      "template  second line.\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("# TYPE prewarm_dns_queries_total counter\n"), std::string::npos) << text;
  EXPECT_NE(text.find("prewarm_dns_queries_total{transport=\"udp\"} 12345678\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("\nprewarm_nodes 0\n"), std::string::npos) << text;
}

// Prometheus' own parser and linter on the same text: what a scrape would see.
TEST(MetricsTextTest, PromtoolAcceptsHostileLabelValues) {
  if (PromtoolPath().empty()) {
    GTEST_SKIP() << "promtool is not installed (Debian package `prometheus`; tools/install-deps "
                    "installs it): the exposition was not checked by Prometheus' parser";
  }
  {
    absl::Status st = PromtoolCheckMetrics(HostileMetrics().Render());
    EXPECT_TRUE(st.ok()) << st;
  }
}

MetricsText HistogramMetrics() {
  HistogramData h({0.01, 0.1, 1});
  h.Observe(0.005);  // le 0.01
  h.Observe(0.01);   // le 0.01: the bound is inclusive
  h.Observe(0.5);    // le 1
  h.Observe(7);      // +Inf only
  MetricsText m;
  m.Histogram("prewarm_instance_start_seconds", "Instance start, create to ready.");
  m.Add(h, {{"template", "st\"atic"}, {"node", "fra-1"}});
  m.Add(HistogramData({0.01, 0.1, 1}), {{"template", "empty"}, {"node", "fra-1"}});
  m.BuildInfo();
  return m;
}

TEST(MetricsTextTest, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  std::string text = HistogramMetrics().Render();
  const std::string l = "template=\"st\\\"atic\",node=\"fra-1\"";
  EXPECT_NE(text.find("# TYPE prewarm_instance_start_seconds histogram\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("prewarm_instance_start_seconds_count{" + l + "} 4\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("prewarm_instance_start_seconds_sum{" + l + "} 7.515\n"), std::string::npos)
      << text;
  for (const char* bucket :
       {"le=\"0.01\"} 2\n", "le=\"0.1\"} 2\n", "le=\"1\"} 3\n", "le=\"+Inf\"} 4\n"}) {
    EXPECT_NE(text.find("prewarm_instance_start_seconds_bucket{" + l + "," + bucket),
              std::string::npos)
        << bucket << "\n"
        << text;
  }
}

TEST(MetricsTextTest, BuildInfoNamesTheVersionAndRevision) {
  std::string text = HistogramMetrics().Render();
  EXPECT_NE(text.find(std::string("prewarm_build_info{version=\"") + kVersionNumber +
                      "\",revision=\"" + kRevision + "\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_STRNE(kRevision, "");
}

TEST(MetricsTextTest, PromtoolAcceptsHistogramsAndBuildInfo) {
  if (PromtoolPath().empty()) GTEST_SKIP() << "promtool is not installed";
  {
    absl::Status st = PromtoolCheckMetrics(HistogramMetrics().Render());
    EXPECT_TRUE(st.ok()) << st;
  }
}

TEST(HistogramDataTest, MergeAddsCountsOnlyForTheSameBounds) {
  HistogramData a({1, 2}), b({1, 2}), other({1, 3});
  a.Observe(0.5);
  b.Observe(1.5);
  b.Observe(9);
  EXPECT_TRUE(a.Merge(b));
  EXPECT_EQ(a.counts(), (std::vector<uint64_t>{1, 1, 1}));
  EXPECT_DOUBLE_EQ(a.sum(), 11);
  EXPECT_FALSE(a.Merge(other));
  EXPECT_EQ(a.count(), 3u);
}

// GET /metrics on a loopback port the kernel picks returns what the render function says.
TEST(MetricsServerTest, ServesTheRenderedTextOnLoopback) {
  MetricsServer server(*HostPort::Parse("127.0.0.1:0"), "test", [] {
    MetricsText m;
    m.BuildInfo();
    return m.Render();
  });
  absl::Status started = server.Start();
  ASSERT_TRUE(started.ok()) << started;
  ASSERT_NE(server.port(), 0);
  httplib::Client client("127.0.0.1", server.port());
  auto res = client.Get("/metrics");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_NE(res->body.find("prewarm_build_info{"), std::string::npos) << res->body;
  // A second server on the same port says which address it could not take.
  MetricsServer clash(HostPort{*IpAddr::Parse("127.0.0.1"), server.port()}, "clash",
                      [] { return std::string(); });
  absl::Status st = clash.Start();
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find(fmt::format("127.0.0.1:{}", server.port())), std::string::npos) << st;
}

TEST(ReadHttpListenTest, ReadsTheListenAddressOrTheFallbackAndRejectsUnknownKeys) {
  auto none = YamlReader::FromString("a: 1", "<t>");
  ASSERT_TRUE(none.ok()) << none.status();
  auto fallback = ReadHttpListen(*none, "127.0.0.1:9410");
  ASSERT_TRUE(fallback.ok()) << fallback.status();
  EXPECT_EQ(fallback->ToString(), "127.0.0.1:9410");
  auto set = YamlReader::FromString("http: {listen: 127.0.0.3:9999}", "<t>");
  EXPECT_EQ(ReadHttpListen(*set, "127.0.0.1:9410")->ToString(), "127.0.0.3:9999");
  auto typo = YamlReader::FromString("http:\n  lisen: 127.0.0.3:9999\n", "cfg.yaml");
  absl::Status st = ReadHttpListen(*typo, "127.0.0.1:9410").status();
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("cfg.yaml:2"), std::string::npos) << st;
  auto bad = YamlReader::FromString("http: {listen: nowhere}", "cfg.yaml");
  EXPECT_FALSE(ReadHttpListen(*bad, "127.0.0.1:9410").ok());
}

}  // namespace
}  // namespace prewarm
