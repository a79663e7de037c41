#include "autoscale/placement.h"

#include <gtest/gtest.h>

namespace prewarm::orchestrator {
namespace {

constexpr geo::GeoPoint kFra{50.11, 8.68};
constexpr geo::GeoPoint kIad{38.95, -77.45};
constexpr geo::GeoPoint kSin{1.35, 103.82};

RoutedInstance Inst(const char* addr, uint32_t node, bool ready, uint32_t load = 0) {
  auto heat = std::make_shared<InstanceHeat>();
  heat->load = load;
  return RoutedInstance{addr, *IpAddr::Parse(addr), node, ready, heat};
}

RoutingSnapshot ThreeNodes(bool can_reserve = true) {
  RoutingSnapshot s;
  s.nodes = {{"fra", "frankfurt", kFra, can_reserve, {"static"}},
             {"iad", "virginia", kIad, can_reserve, {"static"}},
             {"sin", "singapore", kSin, can_reserve, {"static"}}};
  return s;
}

TEST(PlacementTest, GivenAReadyInstanceInTheClientsRegionItIsChosen) {
  RoutingSnapshot s = ThreeNodes();
  s.instances["static"] = {Inst("127.77.1.1", 0, true), Inst("127.77.3.1", 2, true)};
  Pick p = ChooseInstance(s, "static", {"singapore", kSin}, 7);
  ASSERT_EQ(p.kind, PickKind::kLocalReady);
  EXPECT_EQ(p.instance->address.ToString(), "127.77.3.1");
}

TEST(PlacementTest, AReadyInstanceFarAwayDoesNotStopALocalColdStart) {
  RoutingSnapshot s = ThreeNodes();
  s.instances["static"] = {Inst("127.77.1.1", 0, true)};
  Pick p = ChooseInstance(s, "static", {"singapore", kSin}, 1);
  ASSERT_EQ(p.kind, PickKind::kNeedCold);
  EXPECT_EQ(*p.cold_node, 2u);
}

TEST(PlacementTest, AStartingLocalInstanceIsSharedInsteadOfStartingAnother) {
  RoutingSnapshot s = ThreeNodes();
  s.instances["static"] = {Inst("127.77.2.9", 1, false)};
  Pick p = ChooseInstance(s, "static", {"virginia", kIad}, 1);
  EXPECT_EQ(p.kind, PickKind::kLocalStarting);
}

TEST(PlacementTest, WithNoLocalCapacityARemoteReadyInstanceBeatsSpilling) {
  RoutingSnapshot s = ThreeNodes();
  s.nodes[2].can_reserve = false;
  s.instances["static"] = {Inst("127.77.1.1", 0, true), Inst("127.77.2.1", 1, true)};
  Pick p = ChooseInstance(s, "static", {"singapore", kSin}, 1);
  ASSERT_EQ(p.kind, PickKind::kRemoteReady);
  // Frankfurt is nearer to Singapore than Virginia is.
  EXPECT_EQ(p.instance->address.ToString(), "127.77.1.1");
}

TEST(PlacementTest, SpillsToTheNearestNodeWithCapacityWhenNothingRuns) {
  RoutingSnapshot s = ThreeNodes();
  s.nodes[2].can_reserve = false;
  Pick p = ChooseInstance(s, "static", {"singapore", kSin}, 1);
  ASSERT_EQ(p.kind, PickKind::kNeedCold);
  EXPECT_EQ(*p.cold_node, 0u);
}

TEST(PlacementTest, NodesThatCannotRunTheTemplateAreSkipped) {
  RoutingSnapshot s = ThreeNodes();
  s.nodes[2].templates.clear();  // e.g. backing off after a failed start
  Pick p = ChooseInstance(s, "static", {"singapore", kSin}, 1);
  ASSERT_EQ(p.kind, PickKind::kNeedCold);
  EXPECT_EQ(*p.cold_node, 0u);
}

TEST(PlacementTest, NothingAnywhereMeansOrigin) {
  RoutingSnapshot s = ThreeNodes(false);
  EXPECT_EQ(ChooseInstance(s, "static", {"frankfurt", kFra}, 1).kind, PickKind::kNone);
  RoutingSnapshot empty;
  EXPECT_EQ(ChooseInstance(empty, "static", {"frankfurt", kFra}, 1).kind, PickKind::kNone);
}

TEST(PlacementTest, PowerOfTwoChoicesPrefersTheLessLoaded) {
  RoutingSnapshot s = ThreeNodes();
  s.instances["static"] = {Inst("127.77.1.1", 0, true, 50), Inst("127.77.1.2", 0, true, 0)};
  // With two candidates both are always compared, so the idle one always wins.
  for (uint64_t r = 0; r < 20; ++r) {
    EXPECT_EQ(ChooseInstance(s, "static", {"frankfurt", kFra}, r).instance->address.ToString(),
              "127.77.1.2");
  }
}

TEST(PlacementTest, ClientsOutsideAnyNodeRegionGoToTheNearestNode) {
  RoutingSnapshot s = ThreeNodes();
  s.instances["static"] = {Inst("127.77.1.1", 0, true), Inst("127.77.3.1", 2, true)};
  Pick p = ChooseInstance(s, "static", {"sydney", {-33.87, 151.21}}, 3);
  ASSERT_EQ(p.kind, PickKind::kLocalReady);
  EXPECT_EQ(p.instance->address.ToString(), "127.77.3.1");
}

TEST(PowerOfTwoIndex, ThePickedPairsLessLoaded) {
  EXPECT_EQ(PowerOfTwoIndex(1, 12345, [](size_t) { return 0; }), 0u);
  // n = 4, random 6: a = 6 % 4 = 2, b = (6 / 4) % 3 = 1 (< a, kept): index 1 if less loaded.
  std::vector<int> load = {9, 1, 5, 0};
  EXPECT_EQ(PowerOfTwoIndex(4, 6, [&](size_t i) { return load[i]; }), 1u);
  load[1] = 7;
  EXPECT_EQ(PowerOfTwoIndex(4, 6, [&](size_t i) { return load[i]; }), 2u);
  load[1] = 5;  // a tie keeps the first pick
  EXPECT_EQ(PowerOfTwoIndex(4, 6, [&](size_t i) { return load[i]; }), 2u);
  // random 3: a = 3, b = 0 -> index 3 (load 0) beats index 0.
  EXPECT_EQ(PowerOfTwoIndex(4, 3, [&](size_t i) { return load[i]; }), 3u);
}

}  // namespace
}  // namespace prewarm::orchestrator
