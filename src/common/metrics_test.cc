#include "common/metrics.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "common/process.h"

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

std::string PromtoolPath() {
  for (const char* dir : {"/usr/bin", "/usr/local/bin", "/bin"}) {
    std::string p = std::string(dir) + "/promtool";
    if (access(p.c_str(), X_OK) == 0) return p;
  }
  return "";
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
  const std::string promtool = PromtoolPath();
  if (promtool.empty()) {
    GTEST_SKIP() << "promtool is not installed (Debian package `prometheus`; tools/install-deps "
                    "installs it): the exposition was not checked by Prometheus' parser";
  }
  char dir[] = "/tmp/prewarm-metrics-test.XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string file = std::string(dir) + "/metrics.txt";
  std::ofstream(file) << HostileMetrics().Render();
  RealProcessRunner runner;
  auto r = runner.Run({"sh", "-c", "'" + promtool + "' check metrics < '" + file + "'"},
                      std::chrono::seconds(30));
  std::remove(file.c_str());
  rmdir(dir);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 0) << r->output;
}

}  // namespace
}  // namespace prewarm
