// The SIGHUP decision (PlanReload): what a new config changes in a running orchestrator,
// what waits for a restart, and what is refused as a whole.
#include "orchestrator/config_reload.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "orchestrator/test_util.h"

namespace prewarm::orchestrator {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

OrchestratorConfig Parse(const std::string& text) {
  auto r = YamlReader::FromString(text, "next.yaml");
  EXPECT_TRUE(r.ok()) << r.status();
  auto c = ParseOrchestratorConfig(*r);
  EXPECT_TRUE(c.ok()) << c.status();
  return *c;
}

// testing::kThreeRegions with other services, networks and TTLs.
OrchestratorConfig Next(const std::string& services, const std::string& networks,
                        const std::string& rest = "") {
  return Parse(R"(
zone: edge.example.
origin: {addresses: [192.0.2.53]}
regions:
  - {name: frankfurt, latitude: 50.11, longitude: 8.68}
  - {name: virginia, latitude: 38.95, longitude: -77.45}
  - {name: singapore, latitude: 1.35, longitude: 103.82}
services: )" + services +
               "\nnetworks: " + networks + "\n" + rest);
}

const char* kSameNetworks =
    "[{cidr: 192.0.2.0/24, region: frankfurt}, {cidr: 198.51.100.0/24, region: virginia},"
    " {cidr: 203.0.113.0/24, region: singapore}, {cidr: 127.0.0.0/8, region: frankfurt}]";
const char* kSameServices = "[{name: static, template: static}, {name: video}]";

class PlanReloadTest : public ::testing::Test {
 protected:
  OrchestratorConfig started_ = testing::ThreeRegionConfig();
};

TEST_F(PlanReloadTest, TheSameConfigChangesNothing) {
  auto plan = PlanReload(started_, started_, Next(kSameServices, kSameNetworks));
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_THAT(plan->applied, IsEmpty());
  EXPECT_THAT(plan->not_applied, IsEmpty());
  EXPECT_THAT(plan->unnamed_templates, IsEmpty());
  EXPECT_THAT(plan->new_templates, IsEmpty());
}

TEST_F(PlanReloadTest, ServicesAreAddedRemovedAndPointedElsewhere) {
  // api is new (on a new template), video now runs on static's template, and no service
  // names the video template any more.
  auto next = Next(
      "[{name: static, template: static}, {name: video, template: static},"
      " {name: api, template: api-v2, concurrency: 4}]",
      kSameNetworks);
  auto plan = PlanReload(started_, started_, next);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_THAT(plan->applied,
              ElementsAre("services: +api (template api-v2) ~video (template video -> static)"));
  EXPECT_EQ(plan->config.services, next.services);
  EXPECT_THAT(plan->unnamed_templates, ElementsAre("video"));
  EXPECT_THAT(plan->new_templates, ElementsAre("api-v2"));
  EXPECT_EQ(plan->config.templates.at("api-v2").concurrency, 4u);
  ReloadNotes(*plan, [](const std::string& t) -> size_t { return t == "video" ? 2 : 0; });
  ASSERT_EQ(plan->notes.size(), 2u);
  EXPECT_THAT(plan->notes[0], HasSubstr("template video: no service names it any more; its 2 "
                                        "instance(s) get no new answers and are drained"));
  EXPECT_THAT(plan->notes[1], HasSubstr("template api-v2: new; answered from now"));

  // The same file again: nothing to apply, and nothing new to say.
  auto again = PlanReload(started_, plan->config, next);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_THAT(again->applied, IsEmpty());
  EXPECT_THAT(again->new_templates, IsEmpty());
  EXPECT_THAT(again->unnamed_templates, IsEmpty());

  // Removing a service from the reloaded config: `running` is the previous reload's.
  auto removed =
      PlanReload(started_, plan->config, Next("[{name: video, template: static}]", kSameNetworks));
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_THAT(removed->applied, ElementsAre("services: -api -static"));
  EXPECT_THAT(removed->unnamed_templates, ElementsAre("api-v2"));
  EXPECT_THAT(removed->new_templates, IsEmpty()) << "static was named at start";
  ReloadNotes(*removed, [](const std::string&) -> size_t { return 0; });
  EXPECT_THAT(removed->notes, ElementsAre("template api-v2: no service names it any more (no "
                                          "instances)"));
}

TEST_F(PlanReloadTest, ATemplatesOwnSettingsWaitForARestart) {
  auto next =
      Next("[{name: static, template: static, concurrency: 50}, {name: video}]", kSameNetworks);
  auto plan = PlanReload(started_, started_, next);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_THAT(plan->applied, IsEmpty());
  ASSERT_EQ(plan->not_applied.size(), 1u);
  EXPECT_THAT(plan->not_applied[0], HasSubstr("the settings of template static"));
  EXPECT_EQ(plan->config.templates.at("static").concurrency,
            started_.templates.at("static").concurrency);
}

TEST_F(PlanReloadTest, NetworksAndTheDefaultRegionAreReplaced) {
  auto next = Next(kSameServices,
                   "[{cidr: 192.0.2.0/24, region: virginia}, {cidr: 198.51.100.0/24, region: "
                   "virginia}, {cidr: 127.0.0.0/8, region: frankfurt}, {cidr: 10.0.0.0/8, "
                   "region: singapore, latitude: 1.29, longitude: 103.85}]",
                   "default_region: virginia\n");
  auto plan = PlanReload(started_, started_, next);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_THAT(plan->applied,
              ElementsAre("networks: +10.0.0.0/8 -> singapore (1.29, 103.85) ~192.0.2.0/24 -> "
                          "virginia (38.95, -77.45) -203.0.113.0/24",
                          "default_region: frankfurt -> virginia"));
  ASSERT_EQ(plan->config.networks.size(), 4u);
  EXPECT_EQ(plan->config.default_region, "virginia");
}

TEST_F(PlanReloadTest, ANetworkInARegionTheOrchestratorDidNotStartWithIsRefused) {
  auto next = Parse(R"(
origin: {addresses: [192.0.2.53]}
services: [{name: static, template: static}, {name: api}]
regions:
  - {name: frankfurt, latitude: 50.11, longitude: 8.68}
  - {name: sydney, latitude: -33.87, longitude: 151.21}
networks: [{cidr: 203.0.113.0/24, region: sydney}]
)");
  auto plan = PlanReload(started_, started_, next);
  ASSERT_FALSE(plan.ok());
  EXPECT_THAT(std::string(plan.status().message()),
              HasSubstr("networks: 203.0.113.0/24 names region 'sydney', which the orchestrator "
                        "did not start with"));
  auto region =
      PlanReload(started_, started_,
                 Parse("origin: {addresses: [192.0.2.53]}\n"
                       "regions: [{name: sydney, latitude: -33.87, longitude: 151.21}]\n"));
  ASSERT_FALSE(region.ok());
  EXPECT_THAT(std::string(region.status().message()), HasSubstr("default_region 'sydney'"));
}

TEST_F(PlanReloadTest, TtlsMayGoDownButNotAboveTheStart) {
  auto lower = PlanReload(started_, started_,
                          Next(kSameServices, kSameNetworks, "ttl: {stable_s: 10, short_s: 2}\n"));
  ASSERT_TRUE(lower.ok()) << lower.status();
  EXPECT_THAT(lower->applied, ElementsAre("ttl: stable_s 30 -> 10, short_s 5 -> 2"));
  EXPECT_EQ(lower->config.stable_ttl_s, 10u);
  EXPECT_EQ(lower->config.short_ttl_s, 2u);
  // Back up to the start's is fine; above it waits for a restart (and keeps the running one).
  auto higher = PlanReload(started_, lower->config,
                           Next(kSameServices, kSameNetworks, "ttl: {stable_s: 30, short_s: 9}\n"));
  ASSERT_TRUE(higher.ok()) << higher.status();
  EXPECT_THAT(higher->applied, ElementsAre("ttl: stable_s 10 -> 30"));
  ASSERT_EQ(higher->not_applied.size(), 1u);
  EXPECT_THAT(higher->not_applied[0], HasSubstr("ttl.short_s 9 (above the 5 it started with"));
  EXPECT_EQ(higher->config.stable_ttl_s, 30u);
  EXPECT_EQ(higher->config.short_ttl_s, 2u);
}

TEST_F(PlanReloadTest, KeysReadOnlyAtStartKeepTheirRunningValues) {
  std::string text = testing::kThreeRegions;
  text.replace(text.find("edge.example."), 13, "other.example.");
  text.replace(text.find("192.0.2.53"), 10, "198.51.100.1");
  auto next = Parse(text + "dns: {listen: 127.0.0.9:53}\n");
  auto plan = PlanReload(started_, started_, next);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_THAT(plan->applied, IsEmpty());
  EXPECT_EQ(plan->config.dns_listen.ToString(), started_.dns_listen.ToString());
  EXPECT_EQ(plan->config.zone, started_.zone);
  EXPECT_EQ(plan->config.origin_addresses, started_.origin_addresses);
}

}  // namespace
}  // namespace prewarm::orchestrator
