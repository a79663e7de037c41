// The shipped example configs are one platform: each loads as its daemon loads it, and the
// agent and the forecaster connect to the orchestrator's gRPC address and name only its
// regions and templates.
#include <gtest/gtest.h>

#include <set>

#include "agent/config.h"
#include "forecast/service/config.h"
#include "orchestrator/config.h"

namespace prewarm::cli {
namespace {

std::string Example(const std::string& name) {
  return std::string(PREWARM_SOURCE_DIR) + "/examples/" + name;
}

class ExampleConfigsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto oc = orchestrator::LoadOrchestratorConfig(Example("orchestrator.yaml"));
    ASSERT_TRUE(oc.ok()) << oc.status();
    orch_ = *oc;
  }
  orchestrator::OrchestratorConfig orch_;
};

TEST_F(ExampleConfigsTest, TheAgentConnectsToTheOrchestratorAndIsInOneOfItsRegions) {
  auto ac = agent::LoadAgentConfig(Example("agent.yaml"));
  ASSERT_TRUE(ac.ok()) << ac.status();
  EXPECT_EQ(ac->orchestrators, std::vector<std::string>{orch_.grpc_listen.ToString()});
  EXPECT_NE(orch_.FindRegion(ac->region), nullptr) << ac->region;
  std::set<std::string> served;
  for (const auto& t : ac->templates) served.insert(t.name);
  for (const auto& [service, tmpl] : orch_.services) {
    EXPECT_TRUE(served.contains(tmpl)) << "service " << service << " needs template " << tmpl;
  }
}

TEST_F(ExampleConfigsTest, TheForecasterConnectsToTheOrchestratorAndPlansItsTemplates) {
  auto fc = forecast::LoadForecasterConfig(Example("forecaster.yaml"));
  ASSERT_TRUE(fc.ok()) << fc.status();
  EXPECT_EQ(fc->orchestrators, std::vector<std::string>{orch_.grpc_listen.ToString()});
  for (const auto& [name, plan] : fc->templates) {
    EXPECT_TRUE(orch_.templates.contains(name)) << "forecaster template " << name;
  }
}

}  // namespace
}  // namespace prewarm::cli
