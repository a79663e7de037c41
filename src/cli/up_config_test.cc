#include <gtest/gtest.h>

#include "agent/config.h"
#include "cli/up.h"
#include "common/yaml_reader.h"
#include "forecast/service/config.h"
#include "orchestrator/config.h"

namespace prewarm::cli {
namespace {

// The embedded default must always parse: it is the first thing a new user runs.
TEST(UpConfigTest, EmbeddedDefaultParsesWithThreeAgentsInThreeRegions) {
  auto r = YamlReader::FromString(kEmbeddedUpConfig, "<embedded>");
  ASSERT_TRUE(r.ok()) << r.status();
  auto orch = r->Map("orchestrator");
  ASSERT_TRUE(orch.ok() && orch->has_value());
  auto oc = orchestrator::ParseOrchestratorConfig(**orch);
  ASSERT_TRUE(oc.ok()) << oc.status();
  EXPECT_EQ(oc->dns_listen.ToString(), "127.0.0.1:5353");
  EXPECT_EQ(oc->services.at("static"), "static");
  auto defaults = r->Map("agent_defaults");
  ASSERT_TRUE(defaults.ok() && defaults->has_value());
  auto agents = r->MapList("agents");
  ASSERT_TRUE(agents.ok());
  ASSERT_EQ(agents->size(), 3u);
  std::set<std::string> regions;
  for (const auto& a : *agents) {
    auto ac = agent::ParseAgentConfig(a.WithDefaults(**defaults));
    ASSERT_TRUE(ac.ok()) << ac.status();
    EXPECT_NE(oc->FindRegion(ac->region), nullptr);
    regions.insert(ac->region);
    EXPECT_EQ(ac->templates.at(0).name, "static");
  }
  EXPECT_EQ(regions.size(), 3u);
  auto fc = r->Map("forecaster");
  ASSERT_TRUE(fc.ok() && fc->has_value());
  auto fcc = forecast::ParseForecasterConfig(**fc);
  ASSERT_TRUE(fcc.ok()) << fcc.status();
  EXPECT_EQ(fcc->orchestrators.front(), oc->grpc_listen.ToString());
}

}  // namespace
}  // namespace prewarm::cli
