#include "cli/up_config.h"

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
  auto c = LoadUpConfig("", /*cluster=*/false);
  ASSERT_TRUE(c.ok()) << c.status();
  const orchestrator::OrchestratorConfig& oc = c->orchestrator;
  EXPECT_EQ(oc.dns_listen.ToString(), "127.0.0.1:5353");
  EXPECT_EQ(oc.services.at("static"), "static");
  ASSERT_EQ(c->agents.size(), 3u);
  std::set<std::string> regions;
  for (const agent::AgentConfig& ac : c->agents) {
    EXPECT_NE(oc.FindRegion(ac.region), nullptr);
    regions.insert(ac.region);
    EXPECT_EQ(ac.templates.at(0).name, "static");
  }
  EXPECT_EQ(regions.size(), 3u);
  ASSERT_TRUE(c->forecaster.has_value());
  EXPECT_EQ(c->forecaster->orchestrators.front(), oc.grpc_listen.ToString());
}

// Its templates are defined once, at the top (common/template_file.h): the orchestrator,
// the forecaster and every agent see the same concurrency, preload and scratch.
TEST(UpConfigTest, EveryDaemonOfTheEmbeddedConfigsSeesTheSameTemplate) {
  for (bool cluster : {false, true}) {
    auto c = LoadUpConfig("", cluster);
    ASSERT_TRUE(c.ok()) << c.status();
    ASSERT_TRUE(c->orchestrator.templates.contains("static"));
    const orchestrator::TemplateInfo& served = c->orchestrator.templates.at("static");
    ASSERT_TRUE(c->forecaster.has_value());
    ASSERT_TRUE(c->forecaster->templates.contains("static")) << "planned from the definition";
    const forecast::TemplatePlan plan = c->forecaster->Plan("static");
    EXPECT_DOUBLE_EQ(plan.per_instance_concurrency, served.concurrency);
    for (const agent::AgentConfig& ac : c->agents) {
      const agent::TemplateConfig* run = ac.FindTemplate("static");
      ASSERT_NE(run, nullptr) << ac.node_id;
      EXPECT_EQ(run->preload, plan.preload) << ac.node_id;
      EXPECT_EQ(run->scratch_bytes, plan.scratch_bytes) << ac.node_id;
    }
  }
}

TEST(UpConfigTest, EmbeddedClusterConfigNamesThreeEtcdMembersAndTwoReplicas) {
  auto c = LoadUpConfig("", /*cluster=*/true);
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE(c->cluster.has_value());
  EXPECT_EQ(c->cluster->etcd_members.size(), 3u);
  ASSERT_EQ(c->cluster->replicas.size(), 2u);
  EXPECT_EQ(c->cluster->replicas[0].dns.ToString(), "127.0.0.1:5353");
  EXPECT_EQ(c->cluster->replicas[1].dns.ToString(), "127.0.0.2:5353");
  EXPECT_EQ(c->orchestrator.nameservers.size(), 2u) << "every replica in the NS set";
  EXPECT_EQ(c->agents.size(), 3u);
  EXPECT_LE(c->orchestrator.node_timeout_ms, 3000) << "a frozen agent leaves DNS within 3 s";
}

TEST(UpConfigTest, EveryDaemonOfUpServesMetricsOnItsOwnPort) {
  auto c = LoadUpConfig("", /*cluster=*/false);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->orchestrator.http_listen.ToString(), "127.0.0.1:9400");
  ASSERT_TRUE(c->forecaster.has_value());
  EXPECT_EQ(c->forecaster->http_listen.ToString(), "127.0.0.1:9440");
  ASSERT_EQ(c->agents.size(), 3u);
  EXPECT_EQ(c->agents[0].http_listen.ToString(), "127.0.0.1:9430");
  EXPECT_EQ(c->agents[1].http_listen.ToString(), "127.0.0.1:9431");
  EXPECT_EQ(c->agents[2].http_listen.ToString(), "127.0.0.1:9432");
  auto cluster = LoadUpConfig("", /*cluster=*/true);
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  EXPECT_EQ(cluster->agents[2].http_listen.ToString(), "127.0.0.1:9432");
}

TEST(UpConfigTest, TwoDaemonsOnOneHttpPortAreRefusedNamingBoth) {
  std::string text = kEmbeddedUpConfig;
  // The forecaster on the first agent's port.
  text.replace(text.find("forecaster:"), 11, "forecaster:\n  http: {listen: 127.0.0.1:9430}");
  auto r = YamlReader::FromString(text, "up.yaml");
  ASSERT_TRUE(r.ok()) << r.status();
  auto c = ParseUpConfig(*r);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("forecaster and agent fra-1 both serve HTTP on "
                                      "127.0.0.1:9430"),
            std::string::npos)
      << c.status();
}

TEST(UpConfigTest, AnEvenNumberOfEtcdMembersIsRefused) {
  std::string text = kEmbeddedUpClusterConfig;
  text.replace(text.find("127.0.0.11, "), 12, "");
  auto r = YamlReader::FromString(text, "up.yaml");
  ASSERT_TRUE(r.ok());
  auto c = ParseUpConfig(*r);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("an odd number of members"), std::string::npos) << c.status();
}

}  // namespace
}  // namespace prewarm::cli
