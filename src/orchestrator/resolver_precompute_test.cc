// The resolver's precomputed answers (RouteTable, ResolveWire) against its per-query path
// (Resolve): over a hand-made routing snapshot, the same client and the same random
// number must give the same instance, TTL, scope and counters, in the records the
// Authority would have written.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <random>
#include <thread>

#include "dns/zone.h"
#include "geo/mmdb_testutil.h"
#include "orchestrator/resolver.h"
#include "orchestrator/test_util.h"
#include "store/memory_kv.h"

namespace prewarm::orchestrator {
namespace {

constexpr uint16_t kA = 1;
constexpr uint16_t kAAAA = 28;

uint64_t test_random = 0;
uint64_t TestRandom() { return test_random; }

IpAddr Ip(const char* s) { return *IpAddr::Parse(s); }

// The address in a single A record.
uint32_t Load(const dns::WireAnswer& w) {
  const uint8_t* p = w.records.data() + 12;
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

class ResolverPrecomputeTest : public ::testing::Test {
 protected:
  ResolverPrecomputeTest()
      : config_(testing::WithLongLeases(testing::ThreeRegionConfig())),
        kv_(clock_),
        replica_(config_, clock_, kv_),
        resolver_(config_, snaps_, replica_.r().cold(), clock_) {
    EXPECT_TRUE(replica_.Start().ok());
    resolver_.SetRandomForTest(TestRandom);
  }

  // Frankfurt: two IPv4 nodes (one in a nearby city), three ready instances and an IPv6
  // node with one ready instance. Virginia: one starting instance. Singapore: a node with
  // room but no instance (the cold path). Loads are set per test.
  std::shared_ptr<RoutingSnapshot> Snapshot() {
    auto s = std::make_shared<RoutingSnapshot>();
    auto node = [&](const char* id, const char* region, double lat, double lon, int family,
                    bool room) {
      RoutedNode n{id, region, {lat, lon}, room, {}, family};
      if (room) n.templates.insert("static");
      s->nodes.push_back(std::move(n));
      return static_cast<uint32_t>(s->nodes.size() - 1);
    };
    uint32_t fra1 = node("fra-1", "frankfurt", 50.11, 8.68, AF_INET, false);
    uint32_t fra2 = node("fra-2", "frankfurt", 50.0, 8.27, AF_INET, false);  // Mainz, 32 km
    uint32_t fra6 = node("fra-6", "frankfurt", 50.11, 8.68, AF_INET6, false);
    uint32_t iad = node("iad-1", "virginia", 38.95, -77.45, AF_INET, false);
    node("sin-1", "singapore", 1.35, 103.82, AF_INET, true);
    auto inst = [&](const char* id, const char* addr, uint32_t n, bool ready) {
      heat_.push_back(std::make_shared<InstanceHeat>());
      s->instances["static"].push_back(RoutedInstance{id, Ip(addr), n, ready, heat_.back()});
    };
    inst("a", "127.77.1.1", fra1, true);
    inst("b", "127.77.1.2", fra1, true);
    inst("c", "127.77.2.1", fra2, true);
    inst("d", "2001:db8:77::1", fra6, true);
    inst("e", "127.77.4.1", iad, false);
    return s;
  }

  dns::ClientInfo Client(std::mt19937_64& rng) {
    static const char* kSources[] = {"127.0.0.1", "198.51.100.7", "100.64.0.1", "2001:db8::9"};
    static const char* kSubnets[] = {"192.0.2.0", "198.51.100.0", "203.0.113.0", "10.0.0.0",
                                     "2001:db8:1::"};
    dns::ClientInfo c;
    c.source = Ip(kSources[rng() % 4]);
    if (rng() % 3 != 0) {
      IpAddr net = Ip(kSubnets[rng() % 5]);
      uint8_t prefix = static_cast<uint8_t>(rng() % (net.is_v4() ? 33 : 65));
      c.ecs = dns::ClientSubnet{net.Masked(prefix), prefix, 0};
    }
    return c;
  }

  struct Counts {
    uint64_t ready, starting, remote, cold, origin;
    friend bool operator==(const Counts&, const Counts&) = default;
  };
  Counts Now() const {
    const ResolverCounters& c = resolver_.counters();
    return {c.ready.load(), c.starting.load(), c.remote.load(), c.cold.load(), c.origin.load()};
  }
  static Counts Delta(const Counts& a, const Counts& b) {
    return {b.ready - a.ready, b.starting - a.starting, b.remote - a.remote, b.cold - a.cold,
            b.origin - a.origin};
  }

  ManualClock clock_;
  OrchestratorConfig config_;
  store::MemoryKv kv_;
  testing::TestReplica replica_;
  SnapshotHolder snaps_;
  std::vector<std::shared_ptr<InstanceHeat>> heat_;
  OrchestratorResolver resolver_;
};

TEST_F(ResolverPrecomputeTest, WireAnswersAreTheResolveAnswersInWireForm) {
  snaps_.Store(Snapshot());
  std::mt19937_64 rng(7);
  int fast = 0;
  int general = 0;
  for (int i = 0; i < 4000; ++i) {
    for (auto& h : heat_) h->load.store(static_cast<uint32_t>(rng() % 4));
    const dns::ClientInfo client = Client(rng);
    const uint16_t qtype = rng() % 2 ? kA : kAAAA;
    const char* service = rng() % 8 ? "static" : "nosuch";
    test_random = rng();
    dns::WireAnswer wire;
    const Counts before = Now();
    if (!resolver_.ResolveWire(service, qtype, client, wire)) {
      EXPECT_EQ(Now(), before) << "a refused fast answer counted something";
      ++general;
      continue;
    }
    ++fast;
    const Counts fast_delta = Delta(before, Now());
    const Counts mid = Now();
    std::optional<dns::ServiceAnswer> slow = resolver_.Resolve(service, qtype, client);
    ASSERT_TRUE(slow.has_value()) << i;
    std::vector<uint8_t> expected;
    const uint16_t count = dns::EncodeAddressRecords(qtype, slow->ttl, slow->addresses, expected);
    ASSERT_EQ(wire.count, count) << i;
    EXPECT_EQ(std::vector<uint8_t>(wire.records.begin(), wire.records.end()), expected) << i;
    EXPECT_EQ(wire.ecs_scope_prefix, slow->ecs_scope_prefix) << i;
    EXPECT_EQ(fast_delta, Delta(mid, Now())) << i;
  }
  // Both paths were taken: A from frankfurt (three candidates) and virginia (starting),
  // AAAA from anywhere (the frankfurt IPv6 instance) are precomputed; A from singapore
  // (the cold path) and unknown services go the general way.
  EXPECT_GT(fast, 1000);
  EXPECT_GT(general, 500);
}

TEST_F(ResolverPrecomputeTest, ANewSnapshotIsSeenByTheNextAnswer) {
  snaps_.Store(Snapshot());
  dns::ClientInfo fra;
  fra.source = Ip("192.0.2.1");
  dns::WireAnswer wire;
  ASSERT_TRUE(resolver_.ResolveWire("static", kAAAA, fra, wire));
  ASSERT_EQ(wire.records.size(), 28u);
  EXPECT_EQ(wire.records[27], 0x01);  // 2001:db8:77::1
  // The IPv6 instance goes: AAAA now has no precomputed answer (origin, via Resolve).
  auto next = Snapshot();
  std::erase_if(next->instances["static"],
                [](const RoutedInstance& i) { return i.address.is_v6(); });
  snaps_.Store(next);
  EXPECT_FALSE(resolver_.ResolveWire("static", kAAAA, fra, wire));
  // And comes back at another address.
  next = Snapshot();
  next->instances["static"][3].address = Ip("2001:db8:77::2");
  snaps_.Store(next);
  ASSERT_TRUE(resolver_.ResolveWire("static", kAAAA, fra, wire));
  EXPECT_EQ(wire.records[27], 0x02);
}

// The TTL of the first record.
uint32_t Ttl(const dns::WireAnswer& w) {
  const uint8_t* p = w.records.data() + 6;
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

// A reload (SIGHUP) swaps the resolver's view: the next answer on both paths follows the
// new services, networks and TTLs, with its table already built, and no thread keeps a
// placement made under the old overrides.
TEST_F(ResolverPrecomputeTest, AReloadIsSeenByTheNextAnswer) {
  snaps_.Store(Snapshot());
  dns::ClientInfo fra;
  fra.source = Ip("192.0.2.1");
  dns::WireAnswer wire;
  ASSERT_TRUE(resolver_.ResolveWire("static", kA, fra, wire));
  EXPECT_EQ(Ttl(wire), config_.stable_ttl_s);
  EXPECT_FALSE(resolver_.ResolveWire("web", kA, fra, wire));
  EXPECT_FALSE(resolver_.Resolve("web", kA, fra).has_value()) << "NXDOMAIN before";

  OrchestratorConfig next = config_;
  next.services["web"] = "static";
  next.stable_ttl_s = 7;
  resolver_.Reload(next);
  EXPECT_TRUE(resolver_.Precomputed()) << "Reload builds the new table";
  ASSERT_TRUE(resolver_.ResolveWire("web", kA, fra, wire));
  EXPECT_EQ(Ttl(wire), 7u);
  EXPECT_NE(Ip("127.77.4.1"), IpAddr::V4(Load(wire))) << "frankfurt's";
  auto slow = resolver_.Resolve("web", kA, fra);
  ASSERT_TRUE(slow.has_value());
  EXPECT_EQ(slow->ttl, 7u);

  // 192.0.2.0/24 moves to virginia: its starting instance (short TTL), though this thread
  // placed 192.0.2.1 in frankfurt a moment ago.
  for (NetworkConfig& n : next.networks) {
    if (n.cidr.ToString() == "192.0.2.0/24") n = NetworkConfig{n.cidr, "virginia", {38.95, -77.45}};
  }
  next.services.erase("static");
  resolver_.Reload(next);
  ASSERT_TRUE(resolver_.ResolveWire("web", kA, fra, wire));
  EXPECT_EQ(Ip("127.77.4.1"), IpAddr::V4(Load(wire)));
  EXPECT_EQ(Ttl(wire), config_.short_ttl_s);
  EXPECT_EQ(resolver_.Locate(fra).location.region, "virginia");
  // static is gone from both paths.
  EXPECT_FALSE(resolver_.ResolveWire("static", kA, fra, wire));
  EXPECT_FALSE(resolver_.Resolve("static", kA, fra).has_value());
  EXPECT_EQ(resolver_.view()->config.services.count("static"), 0u);
}

// DNS threads answering while reloads come and go: every answer comes from one view,
// never a mix (web exists only in the view whose stable TTL is 7), on both paths. (While
// reloads follow each other this closely the fast path mostly finds its table being built
// and hands the query to the general path, as it does after any publish.)
TEST_F(ResolverPrecomputeTest, AnswersDuringReloadsComeFromOneViewEach) {
  snaps_.Store(Snapshot());
  OrchestratorConfig with_web = config_;
  with_web.services["web"] = "static";
  with_web.stable_ttl_s = 7;
  std::atomic<bool> stop{false};
  std::atomic<int> answered{0};
  std::atomic<int> nxdomain{0};
  std::atomic<int> mixed{0};
  auto ask = [&] {
    dns::ClientInfo fra;
    fra.source = Ip("192.0.2.1");
    for (int i = 0; i < 1'000'000 && !stop.load(); ++i) {
      dns::WireAnswer wire;
      if (resolver_.ResolveWire("web", kA, fra, wire)) {
        answered.fetch_add(1);
        if (Ttl(wire) != 7) mixed.fetch_add(1);
      }
      if (auto a = resolver_.Resolve("web", kA, fra)) {
        answered.fetch_add(1);
        if (a->ttl != 7) mixed.fetch_add(1);
      } else {
        nxdomain.fetch_add(1);
      }
    }
  };
  std::thread t1(ask), t2(ask);
  // At least 200 reloads, and both views seen by a thousand queries each (bounded).
  int reloads = 0;
  auto seen_both = [&] { return answered.load() >= 1000 && nxdomain.load() >= 1000; };
  for (; (reloads < 200 || !seen_both()) && reloads < 1'000'000; ++reloads) {
    resolver_.Reload(reloads % 2 == 0 ? with_web : config_);
  }
  stop.store(true);
  t1.join();
  t2.join();
  EXPECT_TRUE(seen_both()) << answered.load() << " answered, " << nxdomain.load() << " NXDOMAIN";
  EXPECT_EQ(mixed.load(), 0);
  resolver_.Reload(with_web);
  dns::WireAnswer wire;
  dns::ClientInfo fra;
  fra.source = Ip("192.0.2.1");
  ASSERT_TRUE(resolver_.ResolveWire("web", kA, fra, wire));
  EXPECT_EQ(Ttl(wire), 7u);
}

// Hooked to the replica's publisher as the orchestrator does, the table of each new
// snapshot is built when it is published, before any query.
TEST_F(ResolverPrecomputeTest, EachPublishedSnapshotIsPrecomputedBeforeAnyQuery) {
  OrchestratorResolver resolver(config_, replica_.snaps(), replica_.r().cold(), clock_);
  auto link = replica_.Connect("sin-1", "singapore", 1.35, 103.82, "127.77.3.0/24", {"127.77.3.7"});
  EXPECT_FALSE(resolver.Precomputed()) << "nothing built it yet";
  replica_.r().publisher().SetAfterPublish([&] { resolver.Precompute(); });
  replica_.Connect("fra-1", "frankfurt", 50.11, 8.68, "127.77.1.0/24", {"127.77.1.7"});
  EXPECT_TRUE(resolver.Precomputed());
  replica_.Disconnect("fra-1");
  EXPECT_TRUE(resolver.Precomputed());
  replica_.r().publisher().SetAfterPublish(nullptr);
}

// Placements by a MaxMind database are kept per thread; a reloaded database is consulted
// again (its country now maps elsewhere), and its scope is the database's prefix.
TEST_F(ResolverPrecomputeTest, ADatabaseReloadReplacesTheKeptPlacements) {
  char tmpl[] = "/tmp/prewarm-resolver-precompute.XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  const std::string path = dir + "/geo.mmdb";
  ASSERT_TRUE(geo::WriteTestMmdb(path, "100.64.0.0/10 US - -\n").ok());
  config_.dns_geoip.countries = {{"US", "virginia"}, {"DE", "frankfurt"}};
  OrchestratorResolver resolver(config_, snaps_, replica_.r().cold(), clock_);
  auto db = geo::MmdbLocator::Open(path, MakeGeoMapping(config_));
  ASSERT_TRUE(db.ok()) << db.status();
  resolver.SetGeoDatabase(db->get());
  snaps_.Store(Snapshot());
  dns::ClientInfo c{Ip("127.0.0.1"), dns::ClientSubnet{Ip("100.64.1.0"), 24, 0}, false};
  dns::WireAnswer wire;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(resolver.ResolveWire("static", kA, c, wire));
    EXPECT_EQ(wire.records[15], 1) << "virginia's starting instance, 127.77.4.1";
    EXPECT_EQ(wire.ecs_scope_prefix, 10);
  }
  ASSERT_TRUE(geo::WriteTestMmdb(path, "100.64.0.0/12 DE - -\n").ok());
  ASSERT_TRUE((*db)->Reload().ok());
  ASSERT_TRUE(resolver.ResolveWire("static", kA, c, wire));
  EXPECT_EQ(wire.ecs_scope_prefix, 12);
  // Now frankfurt's (127.77.1.1, 127.77.1.2 or 127.77.2.1).
  EXPECT_NE(Ip("127.77.4.1"), IpAddr::V4(Load(wire)));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace prewarm::orchestrator
