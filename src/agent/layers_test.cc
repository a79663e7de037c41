#include "agent/layers.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"

namespace prewarm::agent {
namespace {

namespace fs = std::filesystem;

class LayersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("prewarm-layers-test-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    cache_ = (dir_ / "cache").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string MakeHostFile(const std::string& name, const std::string& content, mode_t mode) {
    fs::path p = dir_ / name;
    std::ofstream(p) << content;
    ::chmod(p.c_str(), mode);
    return p.string();
  }

  // Entries of the cache directory, hidden temporaries included.
  int CacheEntries() {
    int n = 0;
    for (const auto& e : fs::directory_iterator(cache_)) n += e.exists() ? 1 : 0;
    return n;
  }

  fs::path dir_;
  std::string cache_;
};

TEST_F(LayersTest, BaseLayerHasBusyboxAppletsAndMountPoints) {
  if (::access("/bin/busybox", X_OK) != 0) GTEST_SKIP() << "busybox-static not installed";
  auto base = BuildBaseLayer(cache_);
  ASSERT_TRUE(base.ok()) << base.status();
  fs::path root(*base);
  EXPECT_EQ(::access((root / "bin/busybox").c_str(), X_OK), 0);
  EXPECT_EQ(fs::read_symlink(root / "bin/sh"), "busybox");
  EXPECT_TRUE(fs::exists(root / "bin/ip"));
  for (const char* d : {"proc", "dev", "sys", "tmp", "srv", "usr/bin"}) {
    EXPECT_TRUE(fs::is_directory(root / d)) << d;
  }
  std::ifstream passwd(root / "etc/passwd");
  std::string first;
  std::getline(passwd, first);
  EXPECT_EQ(first.rfind("root:x:0:0:", 0), 0u);
  EXPECT_TRUE(fs::exists(root / "etc/group"));
}

TEST_F(LayersTest, BuildingTwiceReusesTheSameDirectory) {
  if (::access("/bin/busybox", X_OK) != 0) GTEST_SKIP() << "busybox-static not installed";
  auto a = BuildBaseLayer(cache_);
  auto b = BuildBaseLayer(cache_);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);
  EXPECT_EQ(CacheEntries(), 1);  // no temporaries left behind
}

TEST_F(LayersTest, FileLayerCopiesContentAndModeAndIsContentAddressed) {
  std::string tool = MakeHostFile("tool", "#!/bin/sh\necho v1\n", 0755);
  auto v1 = BuildFileLayer(cache_, "tool", {{tool, "/usr/bin/tool"}});
  ASSERT_TRUE(v1.ok()) << v1.status();
  fs::path copied = fs::path(*v1) / "usr/bin/tool";
  struct stat st;
  ASSERT_EQ(::stat(copied.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0755u);
  struct stat usr;
  ASSERT_EQ(::stat((fs::path(*v1) / "usr").c_str(), &usr), 0);
  EXPECT_EQ(usr.st_mode & 0777, 0755u);
  EXPECT_EQ(fs::path(*v1).filename().string().rfind("tool-", 0), 0u);

  auto again = BuildFileLayer(cache_, "tool", {{tool, "/usr/bin/tool"}});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *v1);

  MakeHostFile("tool", "#!/bin/sh\necho v2\n", 0755);
  auto v2 = BuildFileLayer(cache_, "tool", {{tool, "/usr/bin/tool"}});
  ASSERT_TRUE(v2.ok());
  EXPECT_NE(*v2, *v1);
  auto moved = BuildFileLayer(cache_, "tool", {{tool, "/opt/tool"}});
  ASSERT_TRUE(moved.ok());
  EXPECT_NE(*moved, *v2);
  EXPECT_TRUE(fs::exists(fs::path(*v1) / "usr/bin/tool"));  // old layer untouched
}

TEST_F(LayersTest, RejectsBadNamesAndGuestPaths) {
  std::string f = MakeHostFile("f", "x", 0644);
  EXPECT_FALSE(BuildFileLayer(cache_, "a/b", {{f, "/f"}}).ok());
  EXPECT_FALSE(BuildFileLayer(cache_, "ok", {{f, "relative"}}).ok());
  EXPECT_FALSE(BuildFileLayer(cache_, "ok", {{f, "/a/../../etc/x"}}).ok());
  EXPECT_FALSE(BuildFileLayer(cache_, "ok", {{(dir_ / "missing").string(), "/m"}}).ok());
}

TEST_F(LayersTest, Sha256OfFileMatchesAKnownDigest) {
  std::string f = MakeHostFile("abc", "abc", 0644);
  auto h = Sha256OfFile(f);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(*h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace prewarm::agent

namespace prewarm::agent {
namespace {

TEST(AlternativesTest, ReadsLiteralInstallsAcrossContinuationLines) {
  std::string postinst =
      "#!/bin/sh\nset -e\n"
      "update-alternatives --install /usr/lib/x86_64-linux-gnu/libblas.so.3 \\\n"
      "                    libblas.so.3-x86_64-linux-gnu /usr/lib/x86_64-linux-gnu/blas/libblas.so.3 10\n"
      "update-alternatives --quiet --install /usr/bin/editor editor /bin/nano 40 --slave /a b /c\n"
      "update-alternatives --install \"$LINK\" x /usr/bin/y 5\n"
      "update-alternatives --remove editor /bin/nano\n"
      "exit 0\n";
  auto alts = AlternativesInstalled(postinst);
  ASSERT_EQ(alts.size(), 2u);
  EXPECT_EQ(alts[0].first, "/usr/lib/x86_64-linux-gnu/libblas.so.3");
  EXPECT_EQ(alts[0].second, "/usr/lib/x86_64-linux-gnu/blas/libblas.so.3");
  EXPECT_EQ(alts[1].first, "/usr/bin/editor");
  EXPECT_EQ(alts[1].second, "/bin/nano");
  EXPECT_TRUE(AlternativesInstalled("").empty());
  EXPECT_TRUE(AlternativesInstalled("update-alternatives --install /x").empty());
}

}  // namespace
}  // namespace prewarm::agent
