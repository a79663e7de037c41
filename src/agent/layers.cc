#include "agent/layers.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string_view>

#include "common/net.h"
#include "fmt/format.h"

namespace prewarm::agent {
namespace {

namespace fs = std::filesystem;

// Bump when the layout of a layer changes, so old cached layers are not reused.
constexpr std::string_view kBaseVersion = "base-v1";
constexpr std::string_view kFileVersion = "files-v1";
constexpr std::string_view kDebVersion = "deb-v2";        // v2: alternatives
constexpr std::string_view kMergedVersion = "merged-v2";  // v2: whiteouts applied

constexpr std::array<std::string_view, 48> kApplets = {
    "[",        "awk",     "basename", "cat",   "chmod", "chown", "cp",    "cut",   "date",  "dd",
    "df",       "dirname", "du",       "echo",  "env",   "false", "find",  "free",  "grep",  "head",
    "hostname", "id",      "ifconfig", "ip",    "kill",  "ln",    "ls",    "mkdir", "mount", "mv",
    "nc",       "netstat", "ps",       "pwd",   "rm",    "sed",   "sh",    "sleep", "sort",  "stat",
    "tail",     "test",    "top",      "touch", "tr",    "true",  "uname", "wc"};

constexpr std::string_view kPasswd =
    "root:x:0:0:root:/root:/bin/sh\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
constexpr std::string_view kGroup = "root:x:0:\nnogroup:x:65534:\n";

// Incremental SHA-256 over strings and file contents.
class Hasher {
 public:
  Hasher() : ctx_(EVP_MD_CTX_new(), EVP_MD_CTX_free) {
    EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr);
  }
  // Length-prefixed, so ("ab","c") and ("a","bc") differ.
  void Add(std::string_view s) {
    std::string len = fmt::format("{}:", s.size());
    EVP_DigestUpdate(ctx_.get(), len.data(), len.size());
    EVP_DigestUpdate(ctx_.get(), s.data(), s.size());
  }
  absl::Status AddFile(const std::string& path) {
    ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) return ErrnoStatus(errno, "open " + path);
    char buf[65536];
    for (;;) {
      ssize_t r = ::read(fd.get(), buf, sizeof buf);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return ErrnoStatus(errno, "read " + path);
      if (r == 0) return absl::OkStatus();
      EVP_DigestUpdate(ctx_.get(), buf, r);
    }
  }
  std::string Hex() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx_.get(), md, &n);
    std::string out;
    for (unsigned int i = 0; i < n; ++i) out += fmt::format("{:02x}", md[i]);
    return out;
  }

 private:
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx_;
};

absl::Status FsError(const std::error_code& ec, std::string_view what) {
  return ErrnoStatus(ec.value(), what);
}

absl::Status WriteFile(const fs::path& p, std::string_view content, mode_t mode) {
  ScopedFd fd(::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
  if (!fd.valid()) return ErrnoStatus(errno, "create " + p.string());
  if (::write(fd.get(), content.data(), content.size()) != static_cast<ssize_t>(content.size())) {
    return ErrnoStatus(errno, "write " + p.string());
  }
  if (::fchmod(fd.get(), mode) != 0) return ErrnoStatus(errno, "chmod " + p.string());
  return absl::OkStatus();
}

absl::Status MakeDir(const fs::path& p, mode_t mode) {
  std::error_code ec;
  fs::create_directories(p, ec);
  if (ec) return FsError(ec, "mkdir " + p.string());
  if (::chmod(p.c_str(), mode) != 0) return ErrnoStatus(errno, "chmod " + p.string());
  return absl::OkStatus();
}

// Creates root/rel and every missing directory between them with `mode` (whatever the
// process umask is: a 0700 /usr would lock out the container's unprivileged user).
absl::Status MakeDirsUnder(const fs::path& root, const fs::path& rel, mode_t mode) {
  fs::path p = root;
  for (const auto& part : rel) {
    p /= part;
    if (::mkdir(p.c_str(), mode) != 0 && errno != EEXIST) {
      return ErrnoStatus(errno, "mkdir " + p.string());
    }
    if (::chmod(p.c_str(), mode) != 0) return ErrnoStatus(errno, "chmod " + p.string());
  }
  return absl::OkStatus();
}

// Copies content and permission bits (not owner: layers are root's).
absl::Status CopyFile(const std::string& from, const fs::path& to) {
  struct stat st;
  if (::stat(from.c_str(), &st) != 0) return ErrnoStatus(errno, "stat " + from);
  std::error_code ec;
  fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
  if (ec) return FsError(ec, fmt::format("copy {} -> {}", from, to.string()));
  if (::chmod(to.c_str(), st.st_mode & 07777) != 0) return ErrnoStatus(errno, "chmod");
  return absl::OkStatus();
}

absl::Status ValidGuestPath(const std::string& guest) {
  if (guest.empty() || guest.front() != '/' || guest.back() == '/') {
    return absl::InvalidArgumentError("guest path must be absolute: " + guest);
  }
  for (const auto& part : fs::path(guest)) {
    if (part == "..") return absl::InvalidArgumentError("'..' in guest path: " + guest);
  }
  return absl::OkStatus();
}

absl::Status FillBase(const fs::path& root, const std::string& busybox) {
  for (const char* d : {"bin", "etc", "usr/bin", "proc", "dev", "sys", "srv", "run"}) {
    RETURN_IF_ERROR(MakeDirsUnder(root, d, 0755));
  }
  RETURN_IF_ERROR(MakeDirsUnder(root, "tmp", 01777));
  RETURN_IF_ERROR(MakeDirsUnder(root, "root", 0700));
  RETURN_IF_ERROR(CopyFile(busybox, root / "bin/busybox"));
  for (std::string_view applet : kApplets) {
    fs::path link = root / "bin" / std::string(applet);
    if (::symlink("busybox", link.c_str()) != 0) return ErrnoStatus(errno, "symlink applet");
  }
  RETURN_IF_ERROR(WriteFile(root / "etc/passwd", kPasswd, 0644));
  return WriteFile(root / "etc/group", kGroup, 0644);
}

constexpr char kOpaqueXattr[] = "trusted.overlay.opaque";

// overlayfs' whiteout: a character device 0/0.
bool IsWhiteout(const struct stat& st) {
  return S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0);
}

bool IsOpaque(const fs::path& dir) {
  char v = 0;
  return ::lgetxattr(dir.c_str(), kOpaqueXattr, &v, 1) == 1 && v == 'y';
}

// True when every component of root/rel is a real directory (no symlink on the way), so
// removing under it stays inside root.
bool RealDirUnder(const fs::path& root, const fs::path& rel) {
  fs::path p = root;
  for (const auto& part : rel) {
    p /= part;
    struct stat st;
    if (::lstat(p.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return false;
  }
  return true;
}

// The whiteouts and opaque directories of one layer, relative to its root.
struct LayerWhiteouts {
  std::vector<fs::path> whiteouts, opaque;
  bool empty() const { return whiteouts.empty() && opaque.empty(); }
};

absl::StatusOr<LayerWhiteouts> FindWhiteouts(const std::string& layer) {
  LayerWhiteouts w;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(layer, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    struct stat st;
    if (::lstat(it->path().c_str(), &st) != 0)
      return ErrnoStatus(errno, "stat " + it->path().string());
    if (IsWhiteout(st)) w.whiteouts.push_back(it->path().lexically_relative(layer));
    if (S_ISDIR(st.st_mode) && IsOpaque(it->path()))
      w.opaque.push_back(it->path().lexically_relative(layer));
  }
  if (ec) return FsError(ec, "walk " + layer);
  return w;
}

// What a layer's whiteouts hide in the layers merged below it so far.
absl::Status HideBelow(const fs::path& root, const LayerWhiteouts& w) {
  std::error_code ec;
  for (const fs::path& rel : w.opaque) {
    if (!RealDirUnder(root, rel)) continue;
    for (const auto& e : fs::directory_iterator(root / rel, ec)) {
      fs::remove_all(e.path(), ec);
      if (ec) return FsError(ec, "remove " + e.path().string());
    }
  }
  for (const fs::path& rel : w.whiteouts) {
    if (!RealDirUnder(root, rel.parent_path())) continue;
    fs::remove_all(root / rel, ec);
    if (ec) return FsError(ec, "remove " + (root / rel).string());
  }
  return absl::OkStatus();
}

// Drops the whiteout markers a layer's copy brought into the merged tree.
absl::Status DropMarkers(const fs::path& root, const LayerWhiteouts& w) {
  for (const fs::path& rel : w.whiteouts) {
    fs::path p = root / rel;
    struct stat st;
    if (RealDirUnder(root, rel.parent_path()) && ::lstat(p.c_str(), &st) == 0 && IsWhiteout(st) &&
        ::unlink(p.c_str()) != 0) {
      return ErrnoStatus(errno, "unlink " + p.string());
    }
  }
  for (const fs::path& rel : w.opaque) {
    fs::path p = root / rel;
    if (RealDirUnder(root, rel) && ::lremovexattr(p.c_str(), kOpaqueXattr) != 0 &&
        errno != ENODATA) {
      return ErrnoStatus(errno, "removexattr " + p.string());
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> MaterializeLayer(
    const std::string& cache_dir, const std::string& name, const std::string& digest,
    const std::function<absl::Status(const fs::path&)>& fill) {
  static std::atomic<uint64_t> counter{0};
  fs::path final_dir = fs::path(cache_dir) / fmt::format("{}-{}", name, digest.substr(0, 32));
  std::error_code ec;
  if (fs::is_directory(final_dir, ec)) return final_dir.string();
  fs::create_directories(cache_dir, ec);
  if (ec) return FsError(ec, "mkdir " + cache_dir);
  fs::path tmp =
      fs::path(cache_dir) / fmt::format(".tmp-{}-{}-{}", name, ::getpid(), counter.fetch_add(1));
  fs::remove_all(tmp, ec);
  absl::Status st = MakeDir(tmp, 0755);
  if (st.ok()) st = fill(tmp);
  if (st.ok() && ::rename(tmp.c_str(), final_dir.c_str()) != 0) {
    // Someone else finished the same layer first: theirs is identical.
    if (errno != EEXIST && errno != ENOTEMPTY) st = ErrnoStatus(errno, "rename layer");
  }
  fs::remove_all(tmp, ec);
  if (!st.ok()) return st;
  return final_dir.string();
}

std::vector<std::pair<std::string, std::string>> AlternativesInstalled(const std::string& script) {
  std::string joined;  // continuation lines joined
  for (size_t i = 0; i < script.size(); ++i) {
    if (script[i] == '\\' && i + 1 < script.size() && script[i + 1] == '\n') {
      ++i;
      joined += ' ';
    } else {
      joined += script[i];
    }
  }
  std::vector<std::pair<std::string, std::string>> out;
  size_t pos = 0;
  while ((pos = joined.find("update-alternatives", pos)) != std::string::npos) {
    size_t end = joined.find('\n', pos);
    std::istringstream words(
        joined.substr(pos, end == std::string::npos ? std::string::npos : end - pos));
    pos = end == std::string::npos ? joined.size() : end;
    std::vector<std::string> w;
    for (std::string x; words >> x;) w.push_back(x);
    // update-alternatives [--quiet] --install LINK NAME PATH PRIORITY [--slave ...]
    auto it = std::find(w.begin(), w.end(), "--install");
    if (it == w.end() || w.end() - it < 5) continue;
    const std::string& link = it[1];
    const std::string& path = it[3];
    bool literal = link.starts_with("/") && path.starts_with("/") &&
                   link.find_first_of("$`\"'") == std::string::npos &&
                   path.find_first_of("$`\"'") == std::string::npos;
    if (literal) out.emplace_back(link, path);
  }
  return out;
}

std::string Sha256OfString(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), md, &n, EVP_sha256(), nullptr);
  std::string out;
  for (unsigned int i = 0; i < n; ++i) out += fmt::format("{:02x}", md[i]);
  return out;
}

absl::StatusOr<std::string> Sha256OfFile(const std::string& path) {
  Hasher h;
  RETURN_IF_ERROR(h.AddFile(path));
  return h.Hex();
}

absl::StatusOr<std::string> BuildBaseLayer(const std::string& cache_dir,
                                           const std::string& busybox) {
  Hasher h;
  h.Add(kBaseVersion);
  RETURN_IF_ERROR(h.AddFile(busybox));
  for (std::string_view applet : kApplets) h.Add(applet);
  h.Add(kPasswd);
  h.Add(kGroup);
  return MaterializeLayer(cache_dir, "base", h.Hex(),
                          [&](const fs::path& root) { return FillBase(root, busybox); });
}

absl::StatusOr<std::string> BuildFileLayer(const std::string& cache_dir, const std::string& name,
                                           const LayerFiles& files) {
  if (name.empty() ||
      name.find_first_not_of("abcdefghijklmnopqrstuvwxyz"
                             "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != std::string::npos) {
    return absl::InvalidArgumentError("bad layer name: " + name);
  }
  Hasher h;
  h.Add(kFileVersion);
  h.Add(name);
  for (const auto& [host, guest] : files) {
    RETURN_IF_ERROR(ValidGuestPath(guest));
    struct stat st;
    if (::stat(host.c_str(), &st) != 0) return ErrnoStatus(errno, "stat " + host);
    h.Add(guest);
    h.Add(fmt::format("{:o}", st.st_mode & 07777));
    RETURN_IF_ERROR(h.AddFile(host));
  }
  return MaterializeLayer(cache_dir, name, h.Hex(), [&](const fs::path& root) -> absl::Status {
    for (const auto& [host, guest] : files) {
      fs::path dest = root / fs::path(guest).relative_path();
      RETURN_IF_ERROR(MakeDirsUnder(root, fs::path(guest).relative_path().parent_path(), 0755));
      RETURN_IF_ERROR(CopyFile(host, dest));
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<std::string> BuildDebLayer(ProcessRunner& runner, const std::string& cache_dir,
                                          const std::string& deb, const std::string& package) {
  Hasher h;
  h.Add(kDebVersion);
  RETURN_IF_ERROR(h.AddFile(deb));
  std::string name = "deb-" + package;
  for (char& c : name) {
    if (c == '+') c = '_';
  }
  return MaterializeLayer(cache_dir, name, h.Hex(), [&](const fs::path& root) -> absl::Status {
    ASSIGN_OR_RETURN(ProcessResult r,
                     runner.Run({"dpkg-deb", "-x", deb, root.string()}, std::chrono::minutes(5)));
    if (r.exit_code != 0)
      return absl::DataLossError(fmt::format("dpkg-deb -x {}: {}", deb, r.output.substr(0, 400)));
    // Maintainer scripts never run, but the alternatives they register are part of what
    // the package provides (libblas3's libblas.so.3 exists only as one).
    ASSIGN_OR_RETURN(ProcessResult post,
                     runner.Run({"dpkg-deb", "-I", deb, "postinst"}, std::chrono::minutes(1)));
    if (post.exit_code != 0) return absl::OkStatus();  // no postinst
    for (const auto& [link, target] : AlternativesInstalled(post.output)) {
      fs::path at = root / fs::path(link).relative_path();
      std::error_code ec;
      if (fs::exists(fs::symlink_status(at, ec))) continue;
      RETURN_IF_ERROR(MakeDirsUnder(root, fs::path(link).relative_path().parent_path(), 0755));
      if (::symlink(target.c_str(), at.c_str()) != 0)
        return ErrnoStatus(errno, "symlink " + at.string());
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<std::string> BuildMergedLayer(ProcessRunner& runner, const std::string& cache_dir,
                                             const std::vector<std::string>& layers) {
  Hasher h;
  h.Add(kMergedVersion);
  for (const std::string& l : layers) h.Add(fs::path(l).filename().string());  // names are digests
  return MaterializeLayer(cache_dir, "merged", h.Hex(), [&](const fs::path& root) -> absl::Status {
    // Bottom layer first; each upper one replaces what it shares.
    for (auto it = layers.rbegin(); it != layers.rend(); ++it) {
      ASSIGN_OR_RETURN(LayerWhiteouts w, FindWhiteouts(*it));
      RETURN_IF_ERROR(HideBelow(root, w));
      ASSIGN_OR_RETURN(ProcessResult r, runner.Run({"cp", "-a", "--link", "--remove-destination",
                                                    *it + "/.", root.string()},
                                                   std::chrono::minutes(5)));
      if (r.exit_code != 0)
        return absl::InternalError(fmt::format("merging {}: {}", *it, r.output.substr(0, 400)));
      RETURN_IF_ERROR(DropMarkers(root, w));
    }
    return absl::OkStatus();
  });
}

}  // namespace prewarm::agent
