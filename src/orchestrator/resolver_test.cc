#include "orchestrator/resolver.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "geo/mmdb_testutil.h"
#include "orchestrator/test_util.h"
#include "store/memory_kv.h"

namespace prewarm::orchestrator {
namespace {

constexpr uint16_t kA = 1;
constexpr uint16_t kAAAA = 28;

class ResolverTest : public ::testing::Test {
 protected:
  ResolverTest()
      : config_(testing::WithLongLeases(testing::ThreeRegionConfig())),
        kv_(clock_),
        replica_(config_, clock_, kv_),
        resolver_(config_, replica_.snaps(), replica_.r().cold(), clock_) {
    EXPECT_TRUE(replica_.Start().ok());
  }

  dns::ClientInfo From(const char* source, const char* ecs = nullptr, uint8_t prefix = 24) {
    dns::ClientInfo c;
    c.source = *IpAddr::Parse(source);
    if (ecs) c.ecs = dns::ClientSubnet{*IpAddr::Parse(ecs), prefix, 0};
    return c;
  }

  ManualClock clock_;
  OrchestratorConfig config_;
  store::MemoryKv kv_;
  testing::TestReplica replica_;
  OrchestratorResolver resolver_;
};

TEST_F(ResolverTest, LocatesByEcsThenSourceThenDefault) {
  EXPECT_EQ(resolver_.Locate(From("127.0.0.1", "203.0.113.0")).location.region, "singapore");
  EXPECT_EQ(resolver_.Locate(From("127.0.0.1", "203.0.113.0")).scope, 24);
  EXPECT_EQ(resolver_.Locate(From("198.51.100.9")).location.region, "virginia");
  EXPECT_EQ(resolver_.Locate(From("198.51.100.9")).scope, 0);
  EXPECT_EQ(resolver_.Locate(From("100.64.0.1")).location.region, "frankfurt");
  // ECS with source prefix 0 means "don't use my subnet": fall back to the source.
  EXPECT_EQ(resolver_.Locate(From("198.51.100.9", "203.0.113.0", 0)).location.region, "virginia");
}

TEST_F(ResolverTest, UnknownServiceIsNxdomainAndNoCapacityIsOrigin) {
  EXPECT_FALSE(resolver_.Resolve("nope", kA, From("127.0.0.1")).has_value());
  auto a = resolver_.Resolve("static", kA, From("127.0.0.1"));
  ASSERT_TRUE(a.has_value());
  ASSERT_EQ(a->addresses.size(), 1u);
  EXPECT_EQ(a->addresses[0].ToString(), "192.0.2.53");
  EXPECT_EQ(a->ttl, config_.short_ttl_s);
  EXPECT_EQ(resolver_.counters().origin.load(), 1u);
}

TEST_F(ResolverTest, ColdThenReadyAnswersWithShortThenStableTtl) {
  auto link = replica_.Connect("sin-1", "singapore", 1.35, 103.82, "127.77.3.0/24", {"127.77.3.7"});
  auto cold = resolver_.Resolve("static", kA, From("127.0.0.1", "203.0.113.0"));
  ASSERT_TRUE(cold.has_value());
  EXPECT_EQ(cold->addresses.at(0).ToString(), "127.77.3.7");
  EXPECT_EQ(cold->ttl, config_.short_ttl_s);
  EXPECT_EQ(cold->ecs_scope_prefix, 24);
  EXPECT_EQ(resolver_.counters().cold.load(), 1u);
  // AAAA never starts anything and has no IPv4 answer.
  auto aaaa = resolver_.Resolve("static", kAAAA, From("127.0.0.1", "203.0.113.0"));
  ASSERT_TRUE(aaaa.has_value());
  EXPECT_TRUE(aaaa->addresses.empty());
  auto cmds = link->Take();
  ASSERT_EQ(cmds.size(), 1u);
  replica_.Report("sin-1", cmds[0].create().instance_id(), v1::INSTANCE_STATE_READY, "127.77.3.7");
  auto warm = resolver_.Resolve("static", kA, From("127.0.0.1", "203.0.113.0"));
  ASSERT_TRUE(warm.has_value());
  EXPECT_EQ(warm->addresses.at(0).ToString(), "127.77.3.7");
  EXPECT_EQ(warm->ttl, config_.stable_ttl_s);
  EXPECT_EQ(resolver_.counters().ready.load(), 1u);
}

// Given a node with an IPv4 range and one with an IPv6 range in the same region: A
// queries are answered from the first, AAAA queries from the second, and each family's
// cold start happens only on the node of that family.
TEST_F(ResolverTest, AaaaComesFromNodesWithIpv6RangesAndAFromIpv4Ones) {
  auto v4 = replica_.Connect("sin-4", "singapore", 1.35, 103.82, "127.77.3.0/24", {"127.77.3.7"});
  auto v6 =
      replica_.Connect("sin-6", "singapore", 1.35, 103.82, "2001:db8:77::/64", {"2001:db8:77::7"});
  auto aaaa = resolver_.Resolve("static", kAAAA, From("127.0.0.1", "203.0.113.0"));
  ASSERT_TRUE(aaaa.has_value());
  ASSERT_EQ(aaaa->addresses.size(), 1u);
  EXPECT_EQ(aaaa->addresses[0].ToString(), "2001:db8:77::7");
  EXPECT_TRUE(v4->Take().empty());
  auto v6_cmds = v6->Take();
  ASSERT_EQ(v6_cmds.size(), 1u);
  auto a = resolver_.Resolve("static", kA, From("127.0.0.1", "203.0.113.0"));
  ASSERT_TRUE(a.has_value());
  ASSERT_EQ(a->addresses.size(), 1u);
  EXPECT_EQ(a->addresses[0].ToString(), "127.77.3.7");
  auto v4_cmds = v4->Take();
  ASSERT_EQ(v4_cmds.size(), 1u);
  EXPECT_TRUE(v6->Take().empty());
  EXPECT_EQ(resolver_.counters().cold.load(), 2u);

  replica_.Report("sin-6", v6_cmds[0].create().instance_id(), v1::INSTANCE_STATE_READY,
                  "2001:db8:77::7");
  replica_.Report("sin-4", v4_cmds[0].create().instance_id(), v1::INSTANCE_STATE_READY,
                  "127.77.3.7");
  EXPECT_EQ(resolver_.Resolve("static", kAAAA, From("127.0.0.1", "203.0.113.0"))
                ->addresses.at(0)
                .ToString(),
            "2001:db8:77::7");
  EXPECT_EQ(
      resolver_.Resolve("static", kA, From("127.0.0.1", "203.0.113.0"))->addresses.at(0).ToString(),
      "127.77.3.7");
  EXPECT_EQ(resolver_.counters().ready.load(), 2u);
}

// Given only an IPv6 node and an IPv6 origin: an A query has nothing to name (NODATA,
// nothing started, not counted as an origin answer); AAAA names the instance.
TEST_F(ResolverTest, AQueryForAnIpv6OnlyServiceIsNodata) {
  config_.origin_addresses = {*IpAddr::Parse("2001:db8::53")};
  resolver_.Reload(config_);  // the resolver answers from its own copy of the config
  auto v6 =
      replica_.Connect("sin-6", "singapore", 1.35, 103.82, "2001:db8:77::/64", {"2001:db8:77::7"});
  auto a = resolver_.Resolve("static", kA, From("127.0.0.1", "203.0.113.0"));
  ASSERT_TRUE(a.has_value());
  EXPECT_TRUE(a->addresses.empty());
  EXPECT_TRUE(v6->Take().empty());
  EXPECT_EQ(resolver_.counters().origin.load(), 0u);
  auto aaaa = resolver_.Resolve("static", kAAAA, From("127.0.0.1", "203.0.113.0"));
  ASSERT_TRUE(aaaa.has_value());
  EXPECT_EQ(aaaa->addresses.at(0).ToString(), "2001:db8:77::7");
}

// Given a MaxMind database behind the `networks:` overrides.
class ResolverGeoIpTest : public ResolverTest {
 protected:
  ResolverGeoIpTest() {
    char tmpl[] = "/tmp/prewarm-resolver-geoip.XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  ~ResolverGeoIpTest() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<geo::MmdbLocator> Open(const std::string& networks) {
    const std::string path = dir_ + "/geo.mmdb";
    EXPECT_TRUE(geo::WriteTestMmdb(path, networks).ok());
    config_.dns_geoip.countries = {{"SG", "singapore"}};
    auto loc = geo::MmdbLocator::Open(path, MakeGeoMapping(config_));
    EXPECT_TRUE(loc.ok()) << loc.status();
    return loc.ok() ? std::move(*loc) : nullptr;
  }
  std::string dir_;
};

TEST_F(ResolverGeoIpTest, OverridesThenCountryThenCoordinatesThenTheDefault) {
  auto db = Open(
      "192.0.2.0/24 SG - -\n"           // an override says frankfurt
      "100.64.0.0/10 SG - -\n"          // country
      "2001:db8:5::/48 - 38.9 -77.0\n"  // Washington: nearest is virginia
      "2001:db8:6::/48 - - -\n");       // nothing usable
  ASSERT_NE(db, nullptr);
  resolver_.SetGeoDatabase(db.get());
  // The override wins, with its own prefix as the scope.
  auto over = resolver_.Locate(From("127.0.0.1", "192.0.2.0"));
  EXPECT_EQ(over.location.region, "frankfurt");
  EXPECT_EQ(over.scope, 24);
  // Country: the scope is the database network's /10, within the query's /24.
  auto sg = resolver_.Locate(From("127.0.0.1", "100.64.1.0"));
  EXPECT_EQ(sg.location.region, "singapore");
  EXPECT_EQ(sg.scope, 10);
  // An IPv6 client subnet (ECS family 2): nearest region by coordinates, scope /48.
  auto dc = resolver_.Locate(From("127.0.0.1", "2001:db8:5:100::", 56));
  EXPECT_EQ(dc.location.region, "virginia");
  EXPECT_EQ(dc.scope, 48);
  // The source address when there is no ECS: located, scope 0 as for any non-ECS query.
  auto src = resolver_.Locate(From("2001:db8:5::1"));
  EXPECT_EQ(src.location.region, "virginia");
  EXPECT_EQ(src.scope, 0);
  // A record with nothing usable, and no record: the default region, as without a database.
  auto blank = resolver_.Locate(From("127.0.0.1", "2001:db8:6::", 56));
  EXPECT_EQ(blank.location.region, "frankfurt");
  EXPECT_EQ(blank.scope, 56);
  EXPECT_EQ(resolver_.Locate(From("127.0.0.1", "10.9.0.0")).location.region, "frankfurt");
}

TEST_F(ResolverGeoIpTest, AnIpv6ClientIsAnsweredFromItsRegionsIpv6Node) {
  auto db = Open("2001:db8:5::/48 SG - -\n");
  ASSERT_NE(db, nullptr);
  resolver_.SetGeoDatabase(db.get());
  auto fra =
      replica_.Connect("fra-6", "frankfurt", 50.11, 8.68, "2001:db8:71::/64", {"2001:db8:71::7"});
  auto sin =
      replica_.Connect("sin-6", "singapore", 1.35, 103.82, "2001:db8:73::/64", {"2001:db8:73::7"});
  auto aaaa = resolver_.Resolve("static", kAAAA, From("::1", "2001:db8:5:100::", 56));
  ASSERT_TRUE(aaaa.has_value());
  EXPECT_EQ(aaaa->addresses.at(0).ToString(), "2001:db8:73::7");
  EXPECT_EQ(aaaa->ecs_scope_prefix, 48);
  EXPECT_TRUE(fra->Take().empty());
  EXPECT_EQ(sin->Take().size(), 1u);
}

// Given a flood from one resolver with a forged client subnet in every query, spread over
// the regions' networks: every query is answered, and what reaches the forecaster as
// demand is the sender network's share of each second, whatever the subnets said.
TEST_F(ResolverTest, AForgedEcsFloodCountsAsOneNetworksShareOfDemand) {
  config_.max_events_per_network_per_s = 20;
  EventFeed feed(config_, clock_);
  auto sub = feed.Subscribe(0);
  OrchestratorResolver counted(config_, replica_.snaps(), replica_.r().cold(), clock_, &feed);
  const char* subnets[] = {"203.0.113.0", "198.51.100.0", "100.64.0.0"};  // sin, vir, fra
  int answered = 0;
  for (int q = 0; q < 3000; ++q) {
    dns::ClientInfo c = From("127.0.0.1", subnets[q % 3]);
    c.ecs->address = IpAddr::V4(c.ecs->address.v4_host_order() + (q % 200) * 256);
    answered += counted.Resolve("static", kA, c).has_value() ? 1 : 0;
  }
  EXPECT_EQ(answered, 3000);
  clock_.Advance(1000);
  feed.CutNow();
  auto batch = sub->Next(0);
  ASSERT_TRUE(batch.has_value());
  uint64_t total = 0;
  for (const auto& e : batch->events()) total += e.count();
  EXPECT_LE(total, 3u * 20u);  // at most one share per (region, template)
  EXPECT_GE(total, 20u);
  EXPECT_EQ(total + feed.capped_total(), 3000u);
}

}  // namespace
}  // namespace prewarm::orchestrator
