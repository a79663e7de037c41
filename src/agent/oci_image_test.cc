#include "agent/oci_image.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "agent/image.h"
#include "agent/layers.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace prewarm::agent {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// One tar entry of a test layer.
struct Entry {
  std::string path;
  char type = 'f';   // f file, d dir, l symlink, h hardlink, c char device
  std::string data;  // file content, or link target
  mode_t mode = 0644;
  int uid = 0, gid = 0;
};

// Writes a tar (gzip-compressed when `gzip`) of `entries` to `path`.
void WriteTar(const std::string& path, const std::vector<Entry>& entries, bool gzip = true) {
  struct archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  if (gzip) archive_write_add_filter_gzip(a);
  ASSERT_EQ(archive_write_open_filename(a, path.c_str()), ARCHIVE_OK);
  for (const Entry& e : entries) {
    struct archive_entry* ae = archive_entry_new();
    archive_entry_set_pathname(ae, e.path.c_str());
    archive_entry_set_perm(ae, e.mode);
    archive_entry_set_uid(ae, e.uid);
    archive_entry_set_gid(ae, e.gid);
    switch (e.type) {
      case 'f':
        archive_entry_set_filetype(ae, AE_IFREG);
        archive_entry_set_size(ae, static_cast<la_int64_t>(e.data.size()));
        break;
      case 'd':
        archive_entry_set_filetype(ae, AE_IFDIR);
        break;
      case 'l':
        archive_entry_set_filetype(ae, AE_IFLNK);
        archive_entry_set_symlink(ae, e.data.c_str());
        break;
      case 'h':
        archive_entry_set_filetype(ae, AE_IFREG);
        archive_entry_set_hardlink(ae, e.data.c_str());
        break;
      case 'c':
        archive_entry_set_filetype(ae, AE_IFCHR);
        archive_entry_set_rdev(ae, makedev(1, 3));
        break;
    }
    ASSERT_EQ(archive_write_header(a, ae), ARCHIVE_OK) << archive_error_string(a);
    if (e.type == 'f' && !e.data.empty()) archive_write_data(a, e.data.data(), e.data.size());
    archive_entry_free(ae);
  }
  archive_write_close(a);
  archive_write_free(a);
}

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool IsWhiteout(const fs::path& p) {
  struct stat st;
  return ::lstat(p.c_str(), &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0);
}

bool IsOpaque(const fs::path& p) {
  char v = 0;
  return ::lgetxattr(p.c_str(), "trusted.overlay.opaque", &v, 1) == 1 && v == 'y';
}

// A real runner that counts the skopeo runs.
class CountingRunner final : public ProcessRunner {
 public:
  absl::StatusOr<ProcessResult> Run(const std::vector<std::string>& argv,
                                    std::chrono::milliseconds timeout) override {
    if (!argv.empty() && argv[0] == "skopeo") ++skopeo_runs;
    return real_.Run(argv, timeout);
  }
  absl::StatusOr<pid_t> Spawn(const SpawnOptions& options) override { return real_.Spawn(options); }
  absl::StatusOr<std::optional<int>> TryWait(pid_t pid) override { return real_.TryWait(pid); }
  absl::Status Signal(pid_t pid, int sig) override { return real_.Signal(pid, sig); }
  int skopeo_runs = 0;

 private:
  RealProcessRunner real_;
};

constexpr char kGzip[] = "application/vnd.oci.image.layer.v1.tar+gzip";

class OciImageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("prewarm-oci-test-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    cache_ = (dir_ / "cache").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Unpacks `entries` as one gzip layer; the digest is made up (nothing checks it here).
  absl::StatusOr<std::string> Unpack(const std::vector<Entry>& entries,
                                     const std::string& name = "layer") {
    std::string tar = (dir_ / (name + ".tar.gz")).string();
    WriteTar(tar, entries);
    auto digest = Sha256OfFile(tar);
    if (!digest.ok()) return digest.status();
    return UnpackOciLayer(cache_, tar, "sha256:" + *digest, kGzip);
  }

  fs::path dir_;
  std::string cache_;
};

#define REQUIRE_ROOT()  \
  if (::geteuid() != 0) \
  GTEST_SKIP() << "whiteouts are device nodes and trusted.* xattrs: needs root"

TEST_F(OciImageTest, UnpacksFilesDirsLinksWithModesAndOwners) {
  REQUIRE_ROOT();
  auto layer = Unpack({{"./app", 'd', "", 0750, 1000, 1000},
                       {"./app/run.sh", 'f', "#!/bin/sh\necho hi\n", 0755, 1000, 1000},
                       {"/etc/motd", 'f', "hello\n"},  // a leading '/' is dropped
                       {"app/link", 'l', "run.sh"},
                       {"app/hard", 'h', "app/run.sh"}});
  ASSERT_TRUE(layer.ok()) << layer.status();
  fs::path root(*layer);
  EXPECT_TRUE(fs::path(*layer).filename().string().starts_with("oci-"));
  EXPECT_EQ(ReadAll(root / "app/run.sh"), "#!/bin/sh\necho hi\n");
  struct stat st;
  ASSERT_EQ(::stat((root / "app/run.sh").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  EXPECT_EQ(st.st_uid, 1000u);
  EXPECT_EQ(st.st_nlink, 2u);  // app/hard
  ASSERT_EQ(::stat((root / "app").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0750u);
  EXPECT_EQ(fs::read_symlink(root / "app/link"), "run.sh");
  EXPECT_EQ(ReadAll(root / "etc/motd"), "hello\n");
}

TEST_F(OciImageTest, UnpackingTheSameLayerTwiceReusesItsDirectory) {
  REQUIRE_ROOT();
  auto a = Unpack({{"f", 'f', "x"}});
  auto b = Unpack({{"f", 'f', "x"}});
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);
}

TEST_F(OciImageTest, WhiteoutFileBecomesAnOverlayWhiteout) {
  REQUIRE_ROOT();
  auto layer = Unpack({{"etc/.wh.passwd", 'f', ""}, {"gone/.wh.dir", 'f', ""}});
  ASSERT_TRUE(layer.ok()) << layer.status();
  EXPECT_TRUE(IsWhiteout(fs::path(*layer) / "etc/passwd"));
  EXPECT_TRUE(IsWhiteout(fs::path(*layer) / "gone/dir"));  // parents made as needed
  EXPECT_FALSE(fs::exists(fs::path(*layer) / "etc/.wh.passwd"));
}

TEST_F(OciImageTest, OpaqueMarkerMakesTheDirectoryOpaque) {
  REQUIRE_ROOT();
  auto layer = Unpack({{"srv", 'd', "", 0755},
                       {"srv/.wh..wh..opq", 'f', ""},
                       {"srv/new", 'f', "n"},
                       {"deep/er/.wh..wh..opq", 'f', ""}});
  ASSERT_TRUE(layer.ok()) << layer.status();
  fs::path root(*layer);
  EXPECT_TRUE(IsOpaque(root / "srv"));
  EXPECT_TRUE(IsOpaque(root / "deep/er"));
  EXPECT_FALSE(IsOpaque(root / "deep"));
  EXPECT_FALSE(fs::exists(root / "srv/.wh..wh..opq"));
  EXPECT_EQ(ReadAll(root / "srv/new"), "n");
}

TEST_F(OciImageTest, AFileOfTheSameLayerIsNotHiddenByItsWhiteout) {
  REQUIRE_ROOT();
  // OCI image spec: a whiteout only applies to lower layers, in either order.
  auto layer =
      Unpack({{"a", 'f', "kept"}, {".wh.a", 'f', ""}, {".wh.b", 'f', ""}, {"b", 'f', "also"}});
  ASSERT_TRUE(layer.ok()) << layer.status();
  EXPECT_EQ(ReadAll(fs::path(*layer) / "a"), "kept");
  EXPECT_EQ(ReadAll(fs::path(*layer) / "b"), "also");
}

TEST_F(OciImageTest, AufsBookkeepingAndDeviceNodesAreLeftOut) {
  REQUIRE_ROOT();
  auto layer = Unpack({{".wh..wh..plnk", 'd', ""}, {"dev/null", 'c', ""}, {"ok", 'f', "1"}});
  ASSERT_TRUE(layer.ok()) << layer.status();
  EXPECT_FALSE(fs::exists(fs::path(*layer) / ".wh..wh..plnk"));
  EXPECT_FALSE(fs::exists(fs::path(*layer) / "..wh..plnk"));
  EXPECT_FALSE(fs::exists(fs::symlink_status(fs::path(*layer) / "dev/null")));
  EXPECT_TRUE(fs::exists(fs::path(*layer) / "ok"));
}

TEST_F(OciImageTest, DotDotPathsAreRefused) {
  REQUIRE_ROOT();
  for (const char* bad : {"../escape", "a/../../escape", "./.."}) {
    auto layer = Unpack({{bad, 'f', "x"}});
    ASSERT_FALSE(layer.ok()) << bad;
    EXPECT_NE(layer.status().message().find("leaves the layer"), std::string::npos)
        << layer.status();
  }
  EXPECT_FALSE(fs::exists(dir_ / "escape"));
  EXPECT_FALSE(fs::exists(fs::path(cache_).parent_path() / "escape"));
}

TEST_F(OciImageTest, WritingThroughASymlinkIsRefused) {
  REQUIRE_ROOT();
  fs::path outside = dir_ / "outside";
  fs::create_directories(outside);
  auto layer = Unpack({{"evil", 'l', outside.string()}, {"evil/pwned", 'f', "x"}});
  ASSERT_FALSE(layer.ok());
  EXPECT_FALSE(fs::exists(outside / "pwned"));
  auto rel = Unpack({{"evil", 'l', "../../outside"}, {"evil/pwned", 'f', "x"}}, "rel");
  ASSERT_FALSE(rel.ok());
  EXPECT_FALSE(fs::exists(outside / "pwned"));
}

TEST_F(OciImageTest, WhiteoutsThroughASymlinkAreRefused) {
  REQUIRE_ROOT();
  fs::path outside = dir_ / "outside";
  fs::create_directories(outside);
  std::ofstream(outside / "victim") << "v";
  auto layer = Unpack({{"evil", 'l', outside.string()}, {"evil/.wh.victim", 'f', ""}});
  ASSERT_FALSE(layer.ok());
  EXPECT_EQ(ReadAll(outside / "victim"), "v");
  auto opq = Unpack({{"evil", 'l', outside.string()}, {"evil/.wh..wh..opq", 'f', ""}}, "opq");
  ASSERT_FALSE(opq.ok());
  EXPECT_FALSE(IsOpaque(outside));
}

TEST_F(OciImageTest, HardLinksOutOfTheLayerAreRefused) {
  REQUIRE_ROOT();
  fs::path outside = dir_ / "outside";
  fs::create_directories(outside);
  std::ofstream(outside / "secret") << "s";
  auto dotdot = Unpack({{"leak", 'h', "../outside/secret"}});
  ASSERT_FALSE(dotdot.ok());
  auto via_symlink = Unpack({{"evil", 'l', outside.string()}, {"leak", 'h', "evil/secret"}}, "sym");
  ASSERT_FALSE(via_symlink.ok());
  struct stat st;
  ASSERT_EQ(::stat((outside / "secret").c_str(), &st), 0);
  EXPECT_EQ(st.st_nlink, 1u);
}

TEST_F(OciImageTest, CorruptAndUnknownLayersAreClearErrors) {
  REQUIRE_ROOT();
  std::string tar = (dir_ / "t.tar.gz").string();
  WriteTar(tar, {{"big", 'f', std::string(200000, 'x')}});
  fs::resize_file(tar, fs::file_size(tar) / 2);  // truncated
  auto truncated = UnpackOciLayer(cache_, tar, "sha256:" + std::string(64, 'a'), kGzip);
  ASSERT_FALSE(truncated.ok());
  EXPECT_TRUE(absl::IsDataLoss(truncated.status())) << truncated.status();
  std::ofstream(dir_ / "junk") << "this is not a tar archive at all";
  auto junk =
      UnpackOciLayer(cache_, (dir_ / "junk").string(), "sha256:" + std::string(64, 'b'), kGzip);
  ASSERT_FALSE(junk.ok());
  auto foreign = UnpackOciLayer(cache_, tar, "sha256:" + std::string(64, 'c'),
                                "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip");
  ASSERT_FALSE(foreign.ok());
  EXPECT_NE(foreign.status().message().find("media type"), std::string::npos);
  auto bad_digest = UnpackOciLayer(cache_, tar, "sha256:../../x", kGzip);
  ASSERT_FALSE(bad_digest.ok());
  // Nothing half-unpacked is left as a layer.
  for (const auto& e : fs::directory_iterator(cache_)) {
    EXPECT_FALSE(e.path().filename().string().starts_with("oci-")) << e.path();
  }
}

TEST_F(OciImageTest, MergedLayerAppliesWhiteoutsAndOpaqueDirectories) {
  REQUIRE_ROOT();
  auto lower = Unpack(
      {{"a/x", 'f', "x"}, {"a/y", 'f', "y"}, {"b/z", 'f', "z"}, {"c", 'd', ""}, {"c/d", 'f', "d"}},
      "lower");
  auto upper = Unpack({{"a/.wh.x", 'f', ""},
                       {"b/.wh..wh..opq", 'f', ""},
                       {"b/new", 'f', "new"},
                       {".wh.c", 'f', ""}},
                      "upper");
  ASSERT_TRUE(lower.ok() && upper.ok()) << lower.status() << upper.status();
  RealProcessRunner runner;
  auto merged = BuildMergedLayer(runner, cache_, {*upper, *lower});
  ASSERT_TRUE(merged.ok()) << merged.status();
  fs::path m(*merged);
  EXPECT_EQ(ReadAll(m / "a/y"), "y");
  EXPECT_FALSE(fs::exists(fs::symlink_status(m / "a/x")));
  EXPECT_FALSE(fs::exists(m / "b/z"));
  EXPECT_EQ(ReadAll(m / "b/new"), "new");
  EXPECT_FALSE(IsOpaque(m / "b"));
  EXPECT_FALSE(fs::exists(fs::symlink_status(m / "c")));
  // The unpacked layers themselves are untouched (they are shared).
  EXPECT_TRUE(IsWhiteout(fs::path(*upper) / "a/x"));
  EXPECT_EQ(ReadAll(fs::path(*lower) / "b/z"), "z");
}

TEST(ImageRefTest, ParsesDockerAndArchiveReferences) {
  auto r = ParseImageRef("docker://127.0.0.1:5000/test/web:1.0");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->ToString(), "docker://127.0.0.1:5000/test/web:1.0");
  EXPECT_EQ(r->host, "127.0.0.1");
  EXPECT_TRUE(r->loopback());
  auto latest = ParseImageRef("docker://registry.example.com/app");
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_EQ(latest->ToString(), "docker://registry.example.com/app:latest");
  EXPECT_FALSE(latest->loopback());
  auto digest = ParseImageRef("docker://localhost:5000/app@sha256:" + std::string(64, 'e'));
  ASSERT_TRUE(digest.ok()) << digest.status();
  EXPECT_TRUE(digest->loopback());
  auto v6 = ParseImageRef("docker://[::1]:5000/app:x");
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_TRUE(v6->loopback());
  EXPECT_FALSE(ParseImageRef("docker://10.0.0.1:5000/app:x")->loopback());
  auto archive = ParseImageRef("oci-archive:/images/app.tar");
  ASSERT_TRUE(archive.ok());
  EXPECT_EQ(archive->ToString(), "oci-archive:/images/app.tar");
  EXPECT_FALSE(archive->loopback());
  auto relative = ParseImageRef("oci-archive:app.tar");
  ASSERT_TRUE(relative.ok());
  EXPECT_TRUE(fs::path(relative->location).is_absolute());
}

TEST(ImageRefTest, RefusesBadReferences) {
  for (const char* bad : {"", "busybox", "docker://busybox:latest", "docker://", "docker:///app",
                          "docker://127.0.0.1:99999/app", "docker://127.0.0.1:5000/App",
                          "docker://127.0.0.1:5000/app:", "docker://127.0.0.1:5000/app:-x",
                          "docker://127.0.0.1:5000/app@sha256:1234", "docker://127.0.0.1:5000//app",
                          "docker://127.0.0.1:5000/app/../x", "docker://127.0.0.1:5000/app;rm:x",
                          "docker://127.0.0.1:5000/a b", "oci-archive:", "oci-archive:a:b",
                          "oci:/layout", "http://127.0.0.1/app"}) {
    auto r = ParseImageRef(bad);
    EXPECT_FALSE(r.ok()) << bad << " parsed as " << (r.ok() ? r->ToString() : "");
    if (!r.ok()) {
      EXPECT_NE(r.status().message().find("docker://HOST:PORT/NAME:TAG"), std::string::npos);
    }
  }
}

TEST(ImageConfigTest, TakesEntrypointCmdEnvUserWorkdirAndTcpPorts) {
  auto c = ParseImageConfig(R"({"architecture": "amd64", "config": {
      "Entrypoint": ["/bin/app", "--serve"], "Cmd": ["--port", "8080"], "Env": ["PATH=/bin", "A=b=c"],
      "User": "web:www", "WorkingDir": "/srv/app",
      "ExposedPorts": {"8080/tcp": {}, "53/udp": {}, "9000": {}}}})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->entrypoint, (std::vector<std::string>{"/bin/app", "--serve"}));
  EXPECT_EQ(c->cmd, (std::vector<std::string>{"--port", "8080"}));
  EXPECT_EQ(c->env, (std::vector<std::string>{"PATH=/bin", "A=b=c"}));
  EXPECT_EQ(c->user, "web:www");
  EXPECT_EQ(c->workdir, "/srv/app");
  EXPECT_EQ(c->tcp_ports, (std::vector<uint16_t>{8080, 9000}));
  auto empty = ParseImageConfig(R"({"config": {"Entrypoint": null}})");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->entrypoint.empty());
}

TEST(ImageConfigTest, RefusesMistypedFields) {
  for (const char* bad :
       {"not json", "[]", R"({"config": []})", R"({"config": {"Cmd": "/bin/sh"}})",
        R"({"config": {"Cmd": [1]}})", R"({"config": {"Env": ["NOEQUALS"]}})",
        R"({"config": {"User": 0}})", R"({"config": {"WorkingDir": "relative"}})",
        R"({"config": {"ExposedPorts": {"http/tcp": {}}}})",
        R"({"config": {"ExposedPorts": {"70000/tcp": {}}}})"}) {
    EXPECT_FALSE(ParseImageConfig(bad).ok()) << bad;
  }
}

// An OCI image layout written by hand: index.json -> manifest -> config + layers.
class LayoutTest : public OciImageTest {
 protected:
  std::string AddBlob(const std::string& content) {
    std::string hex = Sha256OfString(content);
    fs::create_directories(layout_ / "blobs/sha256");
    std::ofstream(layout_ / "blobs/sha256" / hex, std::ios::binary) << content;
    return "sha256:" + hex;
  }
  std::string AddLayer(const std::vector<Entry>& entries) {
    std::string tar = (dir_ / "l.tar.gz").string();
    WriteTar(tar, entries);
    return AddBlob(ReadAll(tar));
  }
  json Desc(const std::string& media, const std::string& digest) {
    std::string hex = digest.substr(7);
    return json{{"mediaType", media},
                {"digest", digest},
                {"size", fs::file_size(layout_ / "blobs/sha256" / hex)}};
  }
  // Writes the layout; returns the layer digests (base first).
  std::vector<std::string> Write(const std::string& arch = "amd64") {
    std::vector<std::string> layers = {
        AddLayer({{"etc/passwd", 'f', "root:x:0:0::/:/bin/sh\nweb:x:1234:4321::/:/bin/sh\n"},
                  {"etc/group", 'f', "root:x:0:\nwww:x:777:\n"},
                  {"old", 'f', "old"}}),
        AddLayer({{".wh.old", 'f', ""}, {"bin/app", 'f', "app", 0755}})};
    std::string config =
        AddBlob(json{{"architecture", arch},
                     {"os", "linux"},
                     {"config", {{"Cmd", {"/bin/app"}}, {"User", "web"}, {"Env", {"A=1"}}}},
                     {"rootfs", {{"type", "layers"}, {"diff_ids", json::array()}}}}
                    .dump());
    json manifest{{"schemaVersion", 2},
                  {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                  {"config", Desc("application/vnd.oci.image.config.v1+json", config)},
                  {"layers", {Desc(kGzip, layers[0]), Desc(kGzip, layers[1])}}};
    std::string m = AddBlob(manifest.dump());
    json index{{"schemaVersion", 2},
               {"manifests", {Desc("application/vnd.oci.image.manifest.v1+json", m)}}};
    std::ofstream(layout_ / "index.json") << index.dump();
    return layers;
  }
  fs::path layout_ =
      fs::temp_directory_path() / ("prewarm-oci-layout-" + std::to_string(::getpid()));
  void TearDown() override {
    fs::remove_all(layout_);
    OciImageTest::TearDown();
  }
};

TEST_F(LayoutTest, ImportsVerifiesAndUnpacksTopFirst) {
  REQUIRE_ROOT();
  auto digests = Write();
  auto img = ImportOciLayout(cache_, layout_.string(), "oci-archive:/x.tar");
  ASSERT_TRUE(img.ok()) << img.status();
  ASSERT_EQ(img->layers.size(), 2u);
  EXPECT_EQ(img->layer_digests, (std::vector<std::string>{digests[1], digests[0]}));
  EXPECT_TRUE(IsWhiteout(fs::path(img->layers[0]) / "old"));
  EXPECT_EQ(ReadAll(fs::path(img->layers[1]) / "old"), "old");
  EXPECT_EQ(img->config.cmd, std::vector<std::string>{"/bin/app"});
  EXPECT_EQ(img->config.env, std::vector<std::string>{"A=1"});
  auto user = ResolveImageUser(img->config.user, img->layers);
  ASSERT_TRUE(user.ok()) << user.status();
  ASSERT_TRUE(user->has_value());
  EXPECT_EQ(**user, std::make_pair(1234u, 4321u));
  EXPECT_EQ(**ResolveImageUser("web:www", img->layers), std::make_pair(1234u, 777u));
  EXPECT_EQ(**ResolveImageUser("5000", img->layers), std::make_pair(5000u, 0u));
  EXPECT_EQ(**ResolveImageUser("0:9", img->layers), std::make_pair(0u, 9u));
  EXPECT_FALSE(ResolveImageUser("", img->layers)->has_value());
  EXPECT_TRUE(absl::IsNotFound(ResolveImageUser("nobody", img->layers).status()));
  EXPECT_TRUE(absl::IsNotFound(ResolveImageUser("web:nogroup", img->layers).status()));
}

TEST_F(LayoutTest, AWhitedOutPasswdHasNoUsers) {
  REQUIRE_ROOT();
  Write();
  auto img = ImportOciLayout(cache_, layout_.string(), "r");
  ASSERT_TRUE(img.ok()) << img.status();
  auto top = Unpack({{"etc/.wh.passwd", 'f', ""}}, "top");
  ASSERT_TRUE(top.ok());
  std::vector<std::string> layers = {*top};
  layers.insert(layers.end(), img->layers.begin(), img->layers.end());
  EXPECT_TRUE(absl::IsNotFound(ResolveImageUser("web", layers).status()));
}

TEST_F(LayoutTest, MissingCorruptAndForeignBlobsAreClearErrors) {
  REQUIRE_ROOT();
  auto digests = Write();
  fs::path blob = layout_ / "blobs/sha256" / digests[1].substr(7);
  std::string good = ReadAll(blob);
  // Same size, different content.
  std::string flipped = good;
  flipped[flipped.size() / 2] ^= 0x55;
  std::ofstream(blob, std::ios::binary | std::ios::trunc) << flipped;
  auto corrupt = ImportOciLayout(cache_, layout_.string(), "r");
  ASSERT_FALSE(corrupt.ok());
  EXPECT_TRUE(absl::IsDataLoss(corrupt.status())) << corrupt.status();
  EXPECT_NE(corrupt.status().message().find("corrupt"), std::string::npos);
  // The corrupt layer's digest is checked while it is unpacked: it must not be left in
  // the cache, unpacked or half-unpacked (the base layer below it is good and stays).
  int unpacked = 0;
  for (const auto& e : fs::directory_iterator(cache_)) {
    std::string name = e.path().filename().string();
    EXPECT_FALSE(name.starts_with(".tmp-")) << name;
    unpacked += name.starts_with("oci-");
  }
  EXPECT_EQ(unpacked, 1);
  std::ofstream(blob, std::ios::binary | std::ios::trunc) << good << "x";
  auto longer = ImportOciLayout(cache_, layout_.string(), "r");
  ASSERT_FALSE(longer.ok());
  EXPECT_NE(longer.status().message().find("bytes"), std::string::npos) << longer.status();
  fs::remove(blob);
  auto missing = ImportOciLayout(cache_, layout_.string(), "r");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("missing"), std::string::npos) << missing.status();

  fs::remove_all(layout_);
  Write("arm64");
  auto foreign = ImportOciLayout(cache_, layout_.string(), "r");
  ASSERT_FALSE(foreign.ok());
  EXPECT_NE(foreign.status().message().find("arm64"), std::string::npos) << foreign.status();

  std::ofstream(layout_ / "index.json", std::ios::trunc) << "{\"manifests\": []}";
  EXPECT_FALSE(ImportOciLayout(cache_, layout_.string(), "r").ok());
  std::ofstream(layout_ / "index.json", std::ios::trunc) << "garbage";
  EXPECT_FALSE(ImportOciLayout(cache_, layout_.string(), "r").ok());
  EXPECT_FALSE(ImportOciLayout(cache_, (dir_ / "nowhere").string(), "r").ok());
}

// The whole path a template takes: an oci-archive of the layout, pulled with skopeo,
// recorded, and turned into what the runtime is given.
TEST_F(LayoutTest, ATemplateRunsTheImageUnlessItsFieldsSayOtherwise) {
  REQUIRE_ROOT();
  if (::access("/usr/bin/skopeo", X_OK) != 0) GTEST_SKIP() << "skopeo not installed";
  Write();
  std::ofstream(layout_ / "oci-layout") << R"({"imageLayoutVersion": "1.0.0"})";
  CountingRunner runner;
  std::string archive = (dir_ / "image.tar").string();
  auto tar =
      runner.Run({"tar", "-C", layout_.string(), "-cf", archive, "."}, std::chrono::seconds(30));
  ASSERT_TRUE(tar.ok() && tar->exit_code == 0);
  TemplateConfig t;
  t.name = "web";
  t.image = "oci-archive:" + archive;
  t.env = {{"B", "2"}};
  auto img = BuildTemplateImage(cache_, t, "/nonexistent", runner);
  ASSERT_TRUE(img.ok()) << img.status();
  EXPECT_EQ(img->image_ref, t.image);
  ASSERT_EQ(img->layers.size(), 3u);  // mount points over the image's two layers
  EXPECT_TRUE(fs::is_directory(fs::path(img->layers[0]) / "proc"));
  TemplateSpec spec = TemplateSpecOf(t, *img);
  EXPECT_EQ(spec.command, std::vector<std::string>{"/bin/app"});
  EXPECT_EQ(spec.env,
            (std::map<std::string, std::string>{
                {"A", "1"},
                {"B", "2"},
                {"PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}}));
  ASSERT_TRUE(spec.user.has_value());
  EXPECT_EQ(*spec.user, std::make_pair(1234u, 4321u));
  EXPECT_EQ(spec.cwd, "/");

  // Recorded: the next build uses the record (same archive, unchanged).
  EXPECT_EQ(runner.skopeo_runs, 1);
  auto again = BuildTemplateImage(cache_, t, "/nonexistent", runner);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->layers, img->layers);
  EXPECT_EQ(runner.skopeo_runs, 1);
  auto list = ListOciImages(cache_);
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].ref, t.image);

  t.command = {"/bin/sh", "-c", "exec /bin/app"};
  t.user = "root";
  t.workdir = "/srv";
  t.env = {{"A", "template"}};
  auto custom = BuildTemplateImage(cache_, t, "/nonexistent", runner);
  ASSERT_TRUE(custom.ok()) << custom.status();
  TemplateSpec cs = TemplateSpecOf(t, *custom);
  EXPECT_EQ(cs.command, t.command);
  EXPECT_EQ(*cs.user, std::make_pair(0u, 0u));
  EXPECT_EQ(cs.cwd, "/srv");
  EXPECT_EQ(cs.env.at("A"), "template");

  t.user = "nosuchuser";
  auto nouser = BuildTemplateImage(cache_, t, "/nonexistent", runner);
  ASSERT_FALSE(nouser.ok());
  EXPECT_NE(nouser.status().message().find("template web: image oci-archive:"), std::string::npos)
      << nouser.status();
  EXPECT_NE(nouser.status().message().find("'nosuchuser'"), std::string::npos) << nouser.status();

  fs::remove(archive);
  t.user = "";
  auto gone = BuildTemplateImage(cache_, t, "/nonexistent", runner);
  ASSERT_FALSE(gone.ok());
  EXPECT_NE(gone.status().message().find("does not exist"), std::string::npos) << gone.status();
}

TEST_F(LayoutTest, PullOfAMissingArchiveOrRegistryIsAClearError) {
  RealProcessRunner runner;
  auto archive = ParseImageRef("oci-archive:" + (dir_ / "none.tar").string());
  ASSERT_TRUE(archive.ok());
  auto r = PullOciImage(runner, cache_, *archive);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("does not exist"), std::string::npos) << r.status();
  if (::access("/usr/bin/skopeo", X_OK) != 0) GTEST_SKIP() << "skopeo not installed";
  // Port 1 on the loopback: nothing listens, the error says what was pulled.
  auto docker = ParseImageRef("docker://127.0.0.1:1/none:x");
  ASSERT_TRUE(docker.ok());
  PullOptions o;
  o.timeout = std::chrono::seconds(60);
  // A staging layout left by a pull whose process is gone is removed by the next pull;
  // one of a live process (pid 1) is not.
  fs::create_directories(fs::path(cache_) / ".tmp-pull-999999999-0/image");
  std::ofstream(fs::path(cache_) / ".tmp-pull-999999999-0/image/blob") << "partial";
  fs::create_directories(fs::path(cache_) / ".tmp-pull-1-0");
  auto refused = PullOciImage(runner, cache_, *docker, o);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("docker://127.0.0.1:1/none:x"), std::string::npos)
      << refused.status();
  EXPECT_FALSE(fs::exists(fs::path(cache_) / ".tmp-pull-999999999-0"));
  EXPECT_TRUE(fs::exists(fs::path(cache_) / ".tmp-pull-1-0"));
  for (const auto& e : fs::directory_iterator(cache_)) {
    std::string name = e.path().filename().string();
    if (name.starts_with(".tmp-pull-")) {
      EXPECT_EQ(name, ".tmp-pull-1-0") << "the failed pull left its layout";
    }
  }
  // Nor its tmpfs (mounted when run as root).
  std::ifstream mounts("/proc/self/mounts");
  for (std::string line; std::getline(mounts, line);)
    EXPECT_EQ(line.find(fs::path(cache_).string() + "/"), std::string::npos) << line;
}

}  // namespace
}  // namespace prewarm::agent
