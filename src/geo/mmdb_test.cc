#include "geo/mmdb.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "geo/mmdb_testutil.h"

namespace prewarm::geo {
namespace {

constexpr GeoPoint kFrankfurt{50.11, 8.68};
constexpr GeoPoint kVirginia{38.95, -77.45};
constexpr GeoPoint kSingapore{1.35, 103.82};

// Given a database where:
//   192.0.2.0/24      DE, no coordinates           -> fra by country
//   198.51.100.0/25   no country, Jakarta          -> sin, the nearest region
//   198.51.100.128/26 FR (unmapped), Paris          -> fra, the nearest region
//   203.0.113.0/24    no country, no coordinates   -> not located
//   2001:db8:a::/48   US, Boston                    -> iad by country, Boston's point
//   2001:db8:b::/40   no country, Tokyo             -> sin, the nearest region
constexpr char kNetworks[] = R"(# test networks
192.0.2.0/24 DE - -
198.51.100.0/25 - -6.2 106.8
198.51.100.128/26 FR 48.86 2.35
203.0.113.0/24 - - -
2001:db8:a::/48 us 42.36 -71.06
2001:db8:b00::/40 - 35.68 139.69
)";

class MmdbTest : public ::testing::Test {
 protected:
  MmdbTest() {
    char tmpl[] = "/tmp/prewarm-mmdb-test.XXXXXX";
    dir_ = mkdtemp(tmpl);
    path_ = dir_ + "/test.mmdb";
  }
  ~MmdbTest() override { std::filesystem::remove_all(dir_); }

  static MmdbMapping Mapping() {
    MmdbMapping m;
    m.regions = {{"fra", kFrankfurt}, {"iad", kVirginia}, {"sin", kSingapore}};
    m.countries = {{"DE", {"fra", kFrankfurt}}, {"US", {"iad", kVirginia}}};
    return m;
  }
  std::unique_ptr<MmdbLocator> Open() {
    auto loc = MmdbLocator::Open(path_, Mapping());
    EXPECT_TRUE(loc.ok()) << loc.status();
    return loc.ok() ? std::move(*loc) : nullptr;
  }
  static std::optional<Located> Find(const MmdbLocator& loc, const char* addr) {
    return loc.Lookup(*IpAddr::Parse(addr));
  }

  std::string dir_;
  std::string path_;
};

TEST_F(MmdbTest, CountryMapsToItsConfiguredRegion) {
  ASSERT_TRUE(WriteTestMmdb(path_, kNetworks).ok());
  auto loc = Open();
  ASSERT_NE(loc, nullptr);
  auto hit = Find(*loc, "192.0.2.77");
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(hit->location.region, "fra");
  // No coordinates in the record: the region's own point.
  EXPECT_DOUBLE_EQ(hit->location.point.lat, kFrankfurt.lat);
  EXPECT_EQ(hit->matched_prefix, 24);
  // Lower-case codes in the database still match; the record's own point is kept.
  auto us = Find(*loc, "2001:db8:a:1::9");
  ASSERT_TRUE(us.has_value());
  EXPECT_EQ(us->location.region, "iad");
  EXPECT_NEAR(us->location.point.lat, 42.36, 1e-9);
  EXPECT_EQ(us->matched_prefix, 48);
}

TEST_F(MmdbTest, CoordinatesPickTheNearestRegionWhenTheCountryIsNotMapped) {
  ASSERT_TRUE(WriteTestMmdb(path_, kNetworks).ok());
  auto loc = Open();
  ASSERT_NE(loc, nullptr);
  auto jakarta = Find(*loc, "198.51.100.5");
  ASSERT_TRUE(jakarta.has_value());
  EXPECT_EQ(jakarta->location.region, "sin");
  EXPECT_EQ(jakarta->matched_prefix, 25);
  auto paris = Find(*loc, "198.51.100.130");
  ASSERT_TRUE(paris.has_value());
  EXPECT_EQ(paris->location.region, "fra");
  EXPECT_EQ(paris->matched_prefix, 26);
  auto tokyo = Find(*loc, "2001:db8:b12::1");
  ASSERT_TRUE(tokyo.has_value());
  EXPECT_EQ(tokyo->location.region, "sin");
  EXPECT_EQ(tokyo->matched_prefix, 40);
}

TEST_F(MmdbTest, AddressesWithoutAUsableRecordAreNotLocated) {
  ASSERT_TRUE(WriteTestMmdb(path_, kNetworks).ok());
  auto loc = Open();
  ASSERT_NE(loc, nullptr);
  EXPECT_FALSE(Find(*loc, "203.0.113.9").has_value());  // a record with nothing usable
  EXPECT_FALSE(Find(*loc, "10.1.2.3").has_value());     // no record
  EXPECT_FALSE(Find(*loc, "2001:db8:c::1").has_value());
  EXPECT_EQ(loc->counters().lookup_errors.load(), 0u);
}

TEST_F(MmdbTest, DatabaseReportsThePrefixInTheAddressFamily) {
  ASSERT_TRUE(WriteTestMmdb(path_, kNetworks).ok());
  auto db = MmdbDatabase::Open(path_);
  ASSERT_TRUE(db.ok()) << db.status();
  EXPECT_EQ((*db)->database_type(), "prewarm-test-City");
  auto v4 = (*db)->Lookup(*IpAddr::Parse("192.0.2.1"));
  ASSERT_TRUE(v4.ok());
  ASSERT_TRUE(v4->has_value());
  EXPECT_EQ((*v4)->country, "DE");
  EXPECT_FALSE((*v4)->point.has_value());
  EXPECT_EQ((*v4)->prefix, 24);  // 120 in the IPv6 tree, less the 96 bits of ::/96
  auto v6 = (*db)->Lookup(*IpAddr::Parse("2001:db8:a::1"));
  ASSERT_TRUE(v6.ok());
  ASSERT_TRUE(v6->has_value());
  EXPECT_EQ((*v6)->country, "US");
  EXPECT_EQ((*v6)->prefix, 48);
}

TEST_F(MmdbTest, MissingOrCorruptFilesAreClearErrors) {
  auto missing = MmdbLocator::Open(path_, Mapping());
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find(path_), std::string::npos) << missing.status();

  std::ofstream(path_) << "this is not a MaxMind database\n";
  auto junk = MmdbLocator::Open(path_, Mapping());
  ASSERT_FALSE(junk.ok());
  EXPECT_NE(junk.status().message().find(path_), std::string::npos) << junk.status();

  // A real database cut short: its metadata is gone.
  ASSERT_TRUE(WriteTestMmdb(path_, kNetworks).ok());
  std::filesystem::resize_file(path_, std::filesystem::file_size(path_) / 2);
  auto cut = MmdbLocator::Open(path_, Mapping());
  ASSERT_FALSE(cut.ok());
  EXPECT_NE(cut.status().message().find("geo database"), std::string::npos) << cut.status();

  // Metadata intact, search tree damaged: refused at open, not met on the hot path.
  ASSERT_TRUE(WriteTestMmdb(path_, kNetworks).ok());
  {
    std::fstream f(path_, std::ios::in | std::ios::out | std::ios::binary);
    const std::string ones(64, '\xff');
    f.write(ones.data(), static_cast<std::streamsize>(ones.size()));
  }
  auto tree = MmdbLocator::Open(path_, Mapping());
  ASSERT_FALSE(tree.ok());
  EXPECT_NE(tree.status().message().find("damaged"), std::string::npos) << tree.status();
}

TEST_F(MmdbTest, TheWriterScriptRejectsBadLines) {
  EXPECT_FALSE(WriteTestMmdb(path_, "192.0.2.0/24 DE 50.1\n").ok());
  EXPECT_FALSE(WriteTestMmdb(path_, "192.0.2.0/24 GERMANY - -\n").ok());
  EXPECT_FALSE(WriteTestMmdb(path_, "192.0.2.0/24 DE north 8.6\n").ok());
  EXPECT_FALSE(WriteTestMmdb(path_, "192.0.2.0/24 DE 50.1 -\n").ok());
  EXPECT_FALSE(std::filesystem::exists(path_));
}

TEST_F(MmdbTest, AChangedFileIsReloadedAndABadOneKeepsTheOld) {
  ASSERT_TRUE(WriteTestMmdb(path_, "192.0.2.0/24 DE - -\n").ok());
  auto loc = Open();
  ASSERT_NE(loc, nullptr);
  EXPECT_EQ(Find(*loc, "192.0.2.1")->location.region, "fra");
  EXPECT_TRUE(loc->ReloadIfChanged().ok());  // unchanged: nothing to do
  EXPECT_EQ(loc->counters().reloads.load(), 0u);

  // The network moves to the US and narrows to a /25.
  ASSERT_TRUE(WriteTestMmdb(path_, "192.0.2.0/25 US - -\n").ok());
  ASSERT_TRUE(loc->ReloadIfChanged().ok());
  EXPECT_EQ(loc->counters().reloads.load(), 1u);
  auto moved = Find(*loc, "192.0.2.1");
  ASSERT_TRUE(moved.has_value());
  EXPECT_EQ(moved->location.region, "iad");
  EXPECT_EQ(moved->matched_prefix, 25);

  // A broken replacement: the running database stays, the failure is counted once.
  {
    std::ofstream f(path_ + ".new");
    f << "garbage";
  }
  std::filesystem::rename(path_ + ".new", path_);
  EXPECT_FALSE(loc->ReloadIfChanged().ok());
  EXPECT_TRUE(loc->ReloadIfChanged().ok());
  EXPECT_EQ(loc->counters().reload_failures.load(), 1u);
  EXPECT_EQ(Find(*loc, "192.0.2.1")->location.region, "iad");

  // An explicit reload (SIGHUP) reads the file even when it looks unchanged.
  ASSERT_TRUE(WriteTestMmdb(path_, "192.0.2.0/24 - 1.3 103.8\n").ok());
  ASSERT_TRUE(loc->Reload().ok());
  EXPECT_EQ(Find(*loc, "192.0.2.200")->location.region, "sin");
  EXPECT_EQ(loc->counters().reloads.load(), 2u);
}

TEST_F(MmdbTest, LookupsRunWhileTheDatabaseIsSwapped) {
  const std::string de = dir_ + "/de.mmdb", us = dir_ + "/us.mmdb";
  ASSERT_TRUE(WriteTestMmdb(de, "192.0.2.0/24 DE - -\n").ok());
  ASSERT_TRUE(WriteTestMmdb(us, "192.0.2.0/24 US - -\n").ok());
  std::filesystem::copy_file(de, path_);
  auto loc = Open();
  ASSERT_NE(loc, nullptr);
  std::atomic<bool> stop{false};
  std::atomic<int> unlocated{0};
  std::thread reader([&] {
    while (!stop.load()) {
      auto hit = Find(*loc, "192.0.2.1");
      if (!hit || (hit->location.region != "fra" && hit->location.region != "iad")) ++unlocated;
    }
  });
  for (int i = 0; i < 200; ++i) {
    std::filesystem::copy_file(i % 2 ? de : us, path_ + ".new",
                               std::filesystem::copy_options::overwrite_existing);
    std::filesystem::rename(path_ + ".new", path_);
    ASSERT_TRUE(loc->Reload().ok());
  }
  stop = true;
  reader.join();
  EXPECT_EQ(unlocated.load(), 0);
  EXPECT_EQ(Find(*loc, "192.0.2.1")->location.region, "fra");
}

}  // namespace
}  // namespace prewarm::geo
