// Resolves and fetches real Debian packages with apt (skips without apt or package lists).
// Downloads go to /var/cache/prewarm-test/pkgs and are reused between runs.
#include "agent/packages.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "agent/layers.h"

namespace prewarm::agent {
namespace {
namespace fs = std::filesystem;

class PackagesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = runner_.Run({"apt-cache", "show", "--no-all-versions", "libyaml-0-2"}, std::chrono::seconds(30));
    if (!r.ok() || r->exit_code != 0) GTEST_SKIP() << "apt or its package lists are missing";
  }
  RealProcessRunner runner_;
  std::string cache_ = "/var/cache/prewarm-test/pkgs";
};

bool Has(const std::vector<DebPackage>& ps, const std::string& name) {
  for (const auto& p : ps) {
    if (p.name == name) return true;
  }
  return false;
}

TEST_F(PackagesTest, ResolvesTheWholeClosureMinusMaintainerOnlyPackages) {
  auto ps = ResolvePackages(runner_, {"libyaml-0-2"}, DefaultExcludedPackages());
  ASSERT_TRUE(ps.ok()) << ps.status();
  EXPECT_TRUE(Has(*ps, "libyaml-0-2"));
  EXPECT_TRUE(Has(*ps, "libc6")) << "dependencies installed on this host still belong to the closure";
  for (size_t i = 0; i < ps->size(); ++i) {
    EXPECT_EQ((*ps)[i].sha256.size(), 64u) << (*ps)[i].name;
    EXPECT_TRUE((*ps)[i].filename.ends_with(".deb"));
    if (i > 0) {
      EXPECT_LT((*ps)[i - 1].name, (*ps)[i].name);
    }
  }
  auto py = ResolvePackages(runner_, {"python3-minimal"}, DefaultExcludedPackages());
  ASSERT_TRUE(py.ok()) << py.status();
  EXPECT_TRUE(Has(*py, "libpython3.11-minimal"));
  EXPECT_FALSE(Has(*py, "dpkg")) << "maintainer-script-only packages are left out";
  auto asked = ResolvePackages(runner_, {"dpkg"}, DefaultExcludedPackages());
  ASSERT_TRUE(asked.ok());
  EXPECT_TRUE(Has(*asked, "dpkg")) << "unless a template asks for one by name";
}

TEST_F(PackagesTest, UnknownAndMalformedPackagesAreClearErrors) {
  auto missing = ResolvePackages(runner_, {"prewarm-no-such-package"}, {});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("'prewarm-no-such-package' is not known to apt"), std::string::npos)
      << missing.status();
  auto bad = ResolvePackages(runner_, {"rm -rf /"}, {});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(PackagesTest, SameDebSameLayerAndACorruptCachedDebIsFetchedAgain) {
  auto a = BuildPackageLayers(runner_, cache_, {"libyaml-0-2"}, DefaultExcludedPackages());
  ASSERT_TRUE(a.ok()) << a.status();
  auto b = BuildPackageLayers(runner_, cache_, {"libyaml-0-2"}, DefaultExcludedPackages());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*a, *b);
  std::string libyaml;
  for (const auto& l : *a) {
    if (fs::path(l).filename().string().starts_with("deb-libyaml-0-2-")) libyaml = l;
  }
  ASSERT_FALSE(libyaml.empty());
  EXPECT_TRUE(fs::exists(libyaml + "/usr/lib/x86_64-linux-gnu/libyaml-0.so.2"));

  auto ps = ResolvePackages(runner_, {"libyaml-0-2"}, {});
  ASSERT_TRUE(ps.ok());
  DebPackage p;
  for (const auto& x : *ps) {
    if (x.name == "libyaml-0-2") p = x;
  }
  std::string deb = cache_ + "/debs/" + p.filename;
  ASSERT_TRUE(fs::exists(deb));
  fs::resize_file(deb, fs::file_size(deb) / 2);  // a download cut short
  auto again = FetchDeb(runner_, cache_, p);
  ASSERT_TRUE(again.ok()) << again.status();
  auto sha = Sha256OfFile(*again);
  ASSERT_TRUE(sha.ok());
  EXPECT_EQ(*sha, p.sha256);
  // The same .deb in another cache gives a layer of the same name.
  std::string other = "/var/cache/prewarm-test/pkgs-other";
  auto c = BuildDebLayer(runner_, other, *again, "libyaml-0-2");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(fs::path(*c).filename(), fs::path(libyaml).filename());
  std::error_code ec;
  fs::remove_all(other, ec);
}

}  // namespace
}  // namespace prewarm::agent
