#include "agent/oci_image.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <memory>
#include <set>
#include <sstream>

#include "agent/layers.h"
#include "common/logging.h"
#include "common/net.h"
#include "fmt/format.h"
#include "nlohmann/json.hpp"

namespace prewarm::agent {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Bump when the way a layer is unpacked changes, so old unpacked layers are not reused.
constexpr std::string_view kOciLayerVersion = "oci-layer-v1";
constexpr std::string_view kRecordVersion = "prewarm-oci-image-v1";
constexpr uint64_t kMaxJsonBlob = 4ull << 20;     // manifests, configs, index.json
constexpr uint64_t kMaxLayerBytes = 16ull << 30;  // unpacked, per layer
constexpr uint64_t kMaxLayerEntries = 1'000'000;

constexpr std::string_view kOciIndex = "application/vnd.oci.image.index.v1+json";
constexpr std::string_view kDockerList =
    "application/vnd.docker.distribution.manifest.list.v2+json";
constexpr std::string_view kOciManifest = "application/vnd.oci.image.manifest.v1+json";
constexpr std::string_view kDockerManifest = "application/vnd.docker.distribution.manifest.v2+json";

absl::Status FsError(const std::error_code& ec, std::string_view what) {
  return ErrnoStatus(ec.value(), what);
}

using Clock = std::chrono::steady_clock;
double MsSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

bool IsHex(std::string_view s) {
  return s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

// "sha256:<64 hex>" -> the hex; anything else is an error (digests name files).
absl::StatusOr<std::string> DigestHex(std::string_view digest) {
  if (!digest.starts_with("sha256:") || digest.size() != 7 + 64 || !IsHex(digest.substr(7))) {
    return absl::DataLossError(fmt::format("'{}' is not a sha256 digest", digest));
  }
  return std::string(digest.substr(7));
}

absl::StatusOr<std::string> ReadSmallFile(const std::string& path, uint64_t limit) {
  std::error_code ec;
  uint64_t size = fs::file_size(path, ec);
  if (ec) return absl::NotFoundError(fmt::format("{}: {}", path, ec.message()));
  if (size > limit)
    return absl::DataLossError(fmt::format("{}: {} bytes, more than {}", path, size, limit));
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  if (!in && !in.eof()) return absl::InternalError("cannot read " + path);
  return ss.str();
}

absl::Status WriteFileAtomically(const std::string& path, const std::string& content) {
  static std::atomic<uint64_t> counter{0};
  std::string tmp = fmt::format("{}.tmp-{}-{}", path, ::getpid(), counter.fetch_add(1));
  {
    std::ofstream out(tmp, std::ios::trunc | std::ios::binary);
    out << content;
    out.close();
    if (!out) return absl::InternalError("cannot write " + tmp);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    absl::Status st = ErrnoStatus(errno, "rename " + tmp);
    ::unlink(tmp.c_str());
    return st;
  }
  return absl::OkStatus();
}

absl::StatusOr<json> ParseJson(std::string_view text, std::string_view what) {
  json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object())
    return absl::DataLossError(fmt::format("{} is not a JSON object", what));
  return j;
}

// A descriptor of an OCI layout: media type, digest and size.
struct Descriptor {
  std::string media_type;
  std::string digest;
  uint64_t size = 0;
  std::string os, architecture;  // platform, in an index only
};

absl::StatusOr<Descriptor> ParseDescriptor(const json& j, std::string_view what) {
  if (!j.is_object())
    return absl::DataLossError(fmt::format("{}: descriptor is not an object", what));
  Descriptor d;
  auto str = [&](const char* key, std::string& out) -> absl::Status {
    if (!j.contains(key)) return absl::OkStatus();
    if (!j[key].is_string())
      return absl::DataLossError(fmt::format("{}: '{}' is not a string", what, key));
    out = j[key].get<std::string>();
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(str("mediaType", d.media_type));
  RETURN_IF_ERROR(str("digest", d.digest));
  RETURN_IF_ERROR(DigestHex(d.digest).status());
  if (!j.contains("size") || !j["size"].is_number_unsigned()) {
    return absl::DataLossError(fmt::format("{}: descriptor {} has no size", what, d.digest));
  }
  d.size = j["size"].get<uint64_t>();
  if (j.contains("platform") && j["platform"].is_object()) {
    const json& p = j["platform"];
    if (p.contains("os") && p["os"].is_string()) d.os = p["os"].get<std::string>();
    if (p.contains("architecture") && p["architecture"].is_string())
      d.architecture = p["architecture"].get<std::string>();
  }
  return d;
}

// The blob `d` names in the layout, checked against its size (not yet its digest).
absl::StatusOr<std::string> BlobOfSize(const std::string& layout, const Descriptor& d) {
  ASSIGN_OR_RETURN(std::string hex, DigestHex(d.digest));
  std::string path = layout + "/blobs/sha256/" + hex;
  std::error_code ec;
  uint64_t size = fs::file_size(path, ec);
  if (ec) return absl::NotFoundError(fmt::format("blob {} is missing from the image", d.digest));
  if (size != d.size) {
    return absl::DataLossError(
        fmt::format("blob {} is corrupt: {} bytes, the manifest says {}", d.digest, size, d.size));
  }
  return path;
}

// The blob at `path` hashes to `d`'s digest.
absl::Status CheckBlobDigest(const std::string& path, const Descriptor& d) {
  ASSIGN_OR_RETURN(std::string hex, DigestHex(d.digest));
  ASSIGN_OR_RETURN(std::string actual, Sha256OfFile(path));
  if (actual != hex)
    return absl::DataLossError(
        fmt::format("blob {} is corrupt: its content hashes to sha256:{}", d.digest, actual));
  return absl::OkStatus();
}

// The blob `d` names in the layout, checked against its size and digest.
absl::StatusOr<std::string> VerifiedBlob(const std::string& layout, const Descriptor& d) {
  ASSIGN_OR_RETURN(std::string path, BlobOfSize(layout, d));
  RETURN_IF_ERROR(CheckBlobDigest(path, d));
  return path;
}

absl::StatusOr<json> VerifiedJsonBlob(const std::string& layout, const Descriptor& d,
                                      std::string_view what) {
  if (d.size > kMaxJsonBlob)
    return absl::DataLossError(fmt::format("{} {} is {} bytes: too large", what, d.digest, d.size));
  ASSIGN_OR_RETURN(std::string path, VerifiedBlob(layout, d));
  ASSIGN_OR_RETURN(std::string text, ReadSmallFile(path, kMaxJsonBlob));
  return ParseJson(text, fmt::format("{} {}", what, d.digest));
}

std::string HostArchitecture() {
  struct utsname u;
  if (::uname(&u) != 0) return "amd64";
  std::string m = u.machine;
  if (m == "x86_64") return "amd64";
  if (m == "aarch64") return "arm64";
  return m;
}

absl::StatusOr<std::vector<std::string>> StringArray(const json& j, const char* key) {
  std::vector<std::string> out;
  if (!j.contains(key) || j[key].is_null()) return out;
  if (!j[key].is_array())
    return absl::DataLossError(fmt::format("image config: '{}' is not a list", key));
  for (const json& v : j[key]) {
    if (!v.is_string())
      return absl::DataLossError(fmt::format("image config: '{}' holds a non-string", key));
    out.push_back(v.get<std::string>());
  }
  return out;
}

// A tar entry's path made relative to the layer root ("./a/b" and "/a/b" -> "a/b"; "." and
// "./" -> ""). ".." anywhere is an error: the layer must not reach outside its root.
absl::StatusOr<std::string> CleanEntryPath(std::string_view raw) {
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (i <= raw.size()) {
    size_t j = raw.find('/', i);
    if (j == std::string_view::npos) j = raw.size();
    std::string_view part = raw.substr(i, j - i);
    if (part == "..")
      return absl::DataLossError(fmt::format("entry '{}' leaves the layer ('..')", raw));
    if (!part.empty() && part != ".") parts.push_back(part);
    i = j + 1;
  }
  std::string out;
  for (std::string_view p : parts) {
    if (!out.empty()) out += '/';
    out += p;
  }
  return out;
}

// Opens root/rel as a directory, creating what is missing (mode 0755), without following
// any symlink: a whiteout under a symlink the layer planted must not land outside root.
absl::StatusOr<ScopedFd> OpenDirBeneath(const std::string& root, const fs::path& rel) {
  ScopedFd dir(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir.valid()) return ErrnoStatus(errno, "open " + root);
  for (const auto& part : rel) {
    std::string name = part.string();
    if (name.empty() || name == ".") continue;
    if (::mkdirat(dir.get(), name.c_str(), 0755) != 0 && errno != EEXIST) {
      return ErrnoStatus(errno, fmt::format("mkdir {}/{}", root, rel.string()));
    }
    ScopedFd next(
        ::openat(dir.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!next.valid()) {
      return absl::DataLossError(
          fmt::format("'{}' is not a directory of the layer (a symlink?)", rel.string()));
    }
    dir = std::move(next);
  }
  return dir;
}

struct ArchiveReadDeleter {
  void operator()(struct archive* a) const { archive_read_free(a); }
};
struct ArchiveWriteDeleter {
  void operator()(struct archive* a) const { archive_write_free(a); }
};

absl::Status UnpackInto(const fs::path& tmp_root, const std::string& blob,
                        const std::string& media_type) {
  std::error_code ec;
  std::string root =
      fs::canonical(tmp_root, ec).string();  // no symlink on the way: see SECURE_SYMLINKS
  if (ec) return FsError(ec, "canonical " + tmp_root.string());
  std::unique_ptr<struct archive, ArchiveReadDeleter> in(archive_read_new());
  archive_read_support_format_tar(in.get());
  if (media_type.ends_with("+gzip") || media_type.ends_with(".tar.gzip")) {
    archive_read_support_filter_gzip(in.get());
  } else if (media_type.ends_with("+zstd")) {
    archive_read_support_filter_zstd(in.get());
  }
  if (archive_read_open_filename(in.get(), blob.c_str(), 1 << 16) != ARCHIVE_OK) {
    return absl::DataLossError(
        fmt::format("cannot open the layer: {}", archive_error_string(in.get())));
  }
  std::unique_ptr<struct archive, ArchiveWriteDeleter> out(archive_write_disk_new());
  // Numeric owners (no name lookup on the host), exact modes, and nothing through a
  // symlink. No xattrs, ACLs or file flags: a layer must not set trusted.overlay.* itself.
  archive_write_disk_set_options(
      out.get(), ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_OWNER |
                     ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NODOTDOT);
  uint64_t bytes = 0, entries = 0, skipped = 0;
  struct archive_entry* entry = nullptr;
  int r;
  while ((r = archive_read_next_header(in.get(), &entry)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
    const char* raw_path = archive_entry_pathname(entry);
    ASSIGN_OR_RETURN(std::string rel, CleanEntryPath(raw_path ? raw_path : ""));
    if (++entries > kMaxLayerEntries) return absl::DataLossError("more than a million entries");
    if (rel.empty()) continue;  // the root itself
    fs::path p(rel);
    std::string base = p.filename().string();
    if (base.starts_with(".wh.")) {
      ASSIGN_OR_RETURN(ScopedFd parent, OpenDirBeneath(root, p.parent_path()));
      if (base == ".wh..wh..opq") {
        if (::fsetxattr(parent.get(), "trusted.overlay.opaque", "y", 1, 0) != 0) {
          return ErrnoStatus(errno, fmt::format("marking '{}' opaque", p.parent_path().string()));
        }
        continue;
      }
      if (base.starts_with(".wh..wh.")) continue;  // aufs bookkeeping (.wh..wh..plnk ...)
      std::string name = base.substr(4);
      if (name.empty() || name == "." || name == "..") {
        return absl::DataLossError(fmt::format("entry '{}' is a whiteout of nothing", raw_path));
      }
      struct stat st;
      // A file of this same layer is not hidden by its own whiteout (OCI image spec).
      if (::fstatat(parent.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) continue;
      if (::mknodat(parent.get(), name.c_str(), S_IFCHR | 0000, makedev(0, 0)) != 0) {
        return ErrnoStatus(errno, fmt::format("whiteout {} (mknod needs root)", rel));
      }
      continue;
    }
    mode_t type = archive_entry_filetype(entry);
    const char* link = archive_entry_hardlink(entry);
    if (link != nullptr) type = AE_IFREG;  // a hard link has no type of its own in some tars
    if (type == AE_IFCHR || type == AE_IFBLK || type == AE_IFIFO || type == AE_IFSOCK) {
      ++skipped;  // device nodes and fifos: instances get their /dev from the runtime
      continue;
    }
    if (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK) {
      return absl::DataLossError(fmt::format("entry '{}' has an unknown file type", rel));
    }
    if (link != nullptr) {
      ASSIGN_OR_RETURN(std::string target, CleanEntryPath(link));
      if (target.empty())
        return absl::DataLossError(fmt::format("entry '{}' is a hard link to the root", rel));
      archive_entry_set_hardlink(entry, (root + "/" + target).c_str());
    }
    if (type == AE_IFREG) {
      bytes += static_cast<uint64_t>(std::max<int64_t>(0, archive_entry_size(entry)));
      if (bytes > kMaxLayerBytes)
        return absl::DataLossError(fmt::format("more than {} bytes unpacked", kMaxLayerBytes));
    }
    archive_entry_set_pathname(entry, (root + "/" + rel).c_str());
    if (archive_write_header(out.get(), entry) < ARCHIVE_WARN) {
      return absl::DataLossError(
          fmt::format("entry '{}': {}", rel, archive_error_string(out.get())));
    }
    if (type == AE_IFREG && archive_entry_size(entry) > 0) {
      const void* buf;
      size_t size;
      la_int64_t offset;
      int dr;
      while ((dr = archive_read_data_block(in.get(), &buf, &size, &offset)) == ARCHIVE_OK) {
        if (archive_write_data_block(out.get(), buf, size, offset) < ARCHIVE_WARN) {
          return absl::DataLossError(
              fmt::format("entry '{}': {}", rel, archive_error_string(out.get())));
        }
      }
      if (dr != ARCHIVE_EOF) {
        return absl::DataLossError(fmt::format("entry '{}' is truncated or corrupt: {}", rel,
                                               archive_error_string(in.get())));
      }
    }
    if (archive_write_finish_entry(out.get()) < ARCHIVE_WARN) {
      return absl::DataLossError(
          fmt::format("entry '{}': {}", rel, archive_error_string(out.get())));
    }
  }
  if (r != ARCHIVE_EOF) {
    return absl::DataLossError(
        fmt::format("the layer is not a readable tar: {}", archive_error_string(in.get())));
  }
  if (entries == 0) return absl::DataLossError("the layer is not a tar archive (no entries)");
  if (skipped > 0) spdlog::info("oci: left out {} device nodes and fifos of a layer", skipped);
  return absl::OkStatus();
}

std::string RecordDir(const std::string& cache_dir) { return cache_dir + "/images"; }
std::string RecordPath(const std::string& cache_dir, const std::string& ref) {
  return fmt::format("{}/{}.json", RecordDir(cache_dir), Sha256OfString(ref).substr(0, 32));
}

json ConfigToJson(const ImageConfig& c) {
  return json{{"entrypoint", c.entrypoint},
              {"cmd", c.cmd},
              {"env", c.env},
              {"user", c.user},
              {"workdir", c.workdir},
              {"tcp_ports", c.tcp_ports}};
}

std::string RecordJson(const OciImage& img) {
  std::vector<std::string> layer_names;
  for (const std::string& l : img.layers) layer_names.push_back(fs::path(l).filename().string());
  json j{{"version", kRecordVersion},
         {"ref", img.ref},
         {"manifest_digest", img.manifest_digest},
         {"config", ConfigToJson(img.config)},
         {"layer_digests", img.layer_digests},
         {"layers", layer_names},
         {"blob_bytes", img.blob_bytes},
         {"archive_size", img.archive_size},
         {"archive_mtime_ns", img.archive_mtime_ns}};
  return j.dump(2) + "\n";
}

absl::StatusOr<OciImage> ParseRecord(const std::string& cache_dir, const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadSmallFile(path, kMaxJsonBlob));
  ASSIGN_OR_RETURN(json j, ParseJson(text, path));
  OciImage img;
  try {
    if (j.at("version").get<std::string>() != kRecordVersion) {
      return absl::DataLossError(fmt::format("{}: not a {} record", path, kRecordVersion));
    }
    img.ref = j.at("ref").get<std::string>();
    img.manifest_digest = j.at("manifest_digest").get<std::string>();
    const json& c = j.at("config");
    img.config.entrypoint = c.at("entrypoint").get<std::vector<std::string>>();
    img.config.cmd = c.at("cmd").get<std::vector<std::string>>();
    img.config.env = c.at("env").get<std::vector<std::string>>();
    img.config.user = c.at("user").get<std::string>();
    img.config.workdir = c.at("workdir").get<std::string>();
    img.config.tcp_ports = c.at("tcp_ports").get<std::vector<uint16_t>>();
    img.layer_digests = j.at("layer_digests").get<std::vector<std::string>>();
    for (const std::string& name : j.at("layers").get<std::vector<std::string>>()) {
      if (name.empty() || name.find('/') != std::string::npos || name.starts_with(".")) {
        return absl::DataLossError(fmt::format("{}: bad layer name '{}'", path, name));
      }
      img.layers.push_back(cache_dir + "/" + name);
    }
    img.blob_bytes = j.at("blob_bytes").get<uint64_t>();
    img.archive_size = j.at("archive_size").get<uint64_t>();
    img.archive_mtime_ns = j.at("archive_mtime_ns").get<int64_t>();
  } catch (const json::exception& e) {
    return absl::DataLossError(fmt::format("{}: {}", path, e.what()));
  }
  return img;
}

// The archive's size and mtime, to notice a changed archive.
absl::StatusOr<std::pair<uint64_t, int64_t>> ArchiveStamp(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0)
    return absl::NotFoundError(fmt::format("image archive {} does not exist", path));
  if (!S_ISREG(st.st_mode))
    return absl::InvalidArgumentError(fmt::format("image archive {} is not a file", path));
  return std::make_pair(
      static_cast<uint64_t>(st.st_size),
      static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec);
}

// The last non-empty line of a tool's output, for an error message; of skopeo's
// `time=... level=fatal msg="..."` only the message.
std::string LastLine(const std::string& out) {
  std::string s = out;
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  size_t nl = s.rfind('\n');
  std::string line = nl == std::string::npos ? s : s.substr(nl + 1);
  if (size_t m = line.find(" msg=\"");
      m != std::string::npos && line.size() > m + 7 && line.back() == '"') {
    line = line.substr(m + 6, line.size() - m - 7);
  }
  return line.size() > 400 ? line.substr(0, 400) : line;
}

absl::Status ReadLines(const std::string& path, std::vector<std::string>& lines) {
  ScopedFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus(errno, "open " + path);
  std::string text;
  char buf[8192];
  for (ssize_t n; (n = ::read(fd.get(), buf, sizeof buf)) > 0;) {
    text.append(buf, n);
    if (text.size() > kMaxJsonBlob) return absl::DataLossError(path + " is too large");
  }
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return absl::OkStatus();
}

// /etc/<name> as the layers (top first) show it: the first layer that has it, unless a
// whiteout or an opaque /etc comes first. Symlinks are not followed (they would point
// into the host). Empty when no layer has it.
absl::StatusOr<std::vector<std::string>> EtcFile(const std::vector<std::string>& layers,
                                                 const std::string& name) {
  for (const std::string& l : layers) {
    struct stat st;
    std::string etc = l + "/etc";
    if (::lstat(etc.c_str(), &st) != 0) continue;
    if (!S_ISDIR(st.st_mode)) return std::vector<std::string>{};
    std::string file = etc + "/" + name;
    if (::lstat(file.c_str(), &st) == 0) {
      if (!S_ISREG(st.st_mode)) return std::vector<std::string>{};  // whiteout, symlink, ...
      std::vector<std::string> lines;
      RETURN_IF_ERROR(ReadLines(file, lines));
      return lines;
    }
    char v = 0;
    if (::lgetxattr(etc.c_str(), "trusted.overlay.opaque", &v, 1) == 1 && v == 'y')
      return std::vector<std::string>{};
  }
  return std::vector<std::string>{};
}

// The fields of the line of `lines` (passwd or group format) whose name or id (field 0
// or 2) is `key`.
std::optional<std::vector<std::string>> FindEntry(const std::vector<std::string>& lines,
                                                  const std::string& key, bool by_id) {
  for (const std::string& line : lines) {
    std::vector<std::string> f;
    std::istringstream in(line);
    for (std::string x; std::getline(in, x, ':');) f.push_back(x);
    if (f.size() < 3) continue;
    if ((by_id ? f[2] : f[0]) == key) return f;
  }
  return std::nullopt;
}

std::optional<uint32_t> ParseId(const std::string& s) {
  std::optional<int64_t> v = ParseInt(s);
  if (!v.has_value() || *v < 0 || *v > 0xFFFFFFFEll) return std::nullopt;
  return static_cast<uint32_t>(*v);
}

}  // namespace

std::string ImageRef::ToString() const {
  return transport == Transport::kDocker ? "docker://" + location : "oci-archive:" + location;
}

bool ImageRef::loopback() const {
  if (transport != Transport::kDocker) return false;
  if (host == "localhost") return true;
  std::string h = host;
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  absl::StatusOr<IpAddr> ip = IpAddr::Parse(h);
  return ip.ok() && ip->is_loopback();
}

absl::StatusOr<ImageRef> ParseImageRef(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(
        fmt::format("image '{}': {} (docker://HOST:PORT/NAME:TAG or oci-archive:FILE)", text, why));
  };
  if (text.size() > 1024) return bad("too long");
  for (char c : text) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f)
      return bad("has spaces or control characters");
  }
  ImageRef ref;
  if (text.starts_with("oci-archive:")) {
    ref.transport = ImageRef::Transport::kOciArchive;
    std::string path(text.substr(12));
    if (path.empty()) return bad("no archive file");
    if (path.find(':') != std::string::npos) return bad("the archive path must not contain ':'");
    std::error_code ec;
    ref.location = fs::absolute(path, ec).lexically_normal().string();
    if (ec) return bad(ec.message());
    return ref;
  }
  if (!text.starts_with("docker://")) return bad("unknown transport");
  std::string rest(text.substr(9));
  size_t slash = rest.find('/');
  if (slash == std::string::npos || slash == 0) return bad("no registry host");
  std::string hostport = rest.substr(0, slash), repo = rest.substr(slash + 1);
  // The host part: name or IPv4 or [IPv6], with an optional port.
  std::string host = hostport, port;
  if (hostport.starts_with("[")) {
    size_t close = hostport.find(']');
    if (close == std::string::npos) return bad("unclosed '[' in the registry host");
    host = hostport.substr(0, close + 1);
    if (close + 1 < hostport.size()) {
      if (hostport[close + 1] != ':') return bad("bad registry host");
      port = hostport.substr(close + 2);
    }
  } else if (size_t colon = hostport.find(':'); colon != std::string::npos) {
    host = hostport.substr(0, colon);
    port = hostport.substr(colon + 1);
  }
  if (host.empty()) return bad("no registry host");
  if (!host.starts_with("[") &&
      host.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") !=
          std::string::npos) {
    return bad("bad registry host");
  }
  // Like docker, a first component without '.', ':' or "localhost" is a repository
  // name, not a host: prewarm never guesses a registry.
  if (port.empty() && host != "localhost" && host.find('.') == std::string::npos &&
      !host.starts_with("[")) {
    return bad("no registry host (the name must start with HOST[:PORT]/)");
  }
  if (!port.empty()) {
    std::optional<int64_t> p = ParseInt(port);
    if (!p.has_value() || *p < 1 || *p > 65535) return bad("bad registry port");
  }
  // NAME[:TAG] or NAME@sha256:HEX
  std::string name = repo, suffix;
  if (size_t at = repo.find('@'); at != std::string::npos) {
    name = repo.substr(0, at);
    if (!DigestHex(repo.substr(at + 1)).ok()) return bad("bad digest (sha256:<64 hex digits>)");
    suffix = repo.substr(at);
  } else if (size_t colon = repo.rfind(':');
             colon != std::string::npos && repo.find('/', colon) == std::string::npos) {
    name = repo.substr(0, colon);
    std::string tag = repo.substr(colon + 1);
    if (tag.empty() || tag.size() > 128 || tag.front() == '.' || tag.front() == '-' ||
        tag.find_first_not_of(
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") !=
            std::string::npos) {
      return bad("bad tag");
    }
    suffix = ":" + tag;
  } else {
    suffix = ":latest";
  }
  if (name.empty()) return bad("no image name");
  size_t i = 0;
  while (i <= name.size()) {
    size_t j = name.find('/', i);
    if (j == std::string::npos) j = name.size();
    std::string comp = name.substr(i, j - i);
    if (comp.empty() ||
        comp.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789._-") != std::string::npos ||
        !std::isalnum(static_cast<unsigned char>(comp.front())) ||
        !std::isalnum(static_cast<unsigned char>(comp.back()))) {
      return bad(
          "bad image name (lower-case letters, digits, '.', '_', '-', components separated by "
          "'/')");
    }
    i = j + 1;
  }
  ref.transport = ImageRef::Transport::kDocker;
  ref.host = host;
  ref.location = hostport + "/" + name + suffix;
  return ref;
}

absl::StatusOr<ImageConfig> ParseImageConfig(std::string_view text) {
  ASSIGN_OR_RETURN(json j, ParseJson(text, "image config"));
  ImageConfig c;
  if (!j.contains("config") || j["config"].is_null()) return c;
  const json& cfg = j["config"];
  if (!cfg.is_object()) return absl::DataLossError("image config: 'config' is not an object");
  ASSIGN_OR_RETURN(c.entrypoint, StringArray(cfg, "Entrypoint"));
  ASSIGN_OR_RETURN(c.cmd, StringArray(cfg, "Cmd"));
  ASSIGN_OR_RETURN(c.env, StringArray(cfg, "Env"));
  for (const std::string& e : c.env) {
    if (e.find('=') == std::string::npos || e.front() == '=') {
      return absl::DataLossError(fmt::format("image config: env '{}' is not NAME=VALUE", e));
    }
  }
  for (const char* key : {"User", "WorkingDir"}) {
    if (!cfg.contains(key) || cfg[key].is_null()) continue;
    if (!cfg[key].is_string())
      return absl::DataLossError(fmt::format("image config: '{}' is not a string", key));
  }
  if (cfg.contains("User") && cfg["User"].is_string()) c.user = cfg["User"].get<std::string>();
  if (cfg.contains("WorkingDir") && cfg["WorkingDir"].is_string())
    c.workdir = cfg["WorkingDir"].get<std::string>();
  if (!c.workdir.empty() && c.workdir.front() != '/') {
    return absl::DataLossError(
        fmt::format("image config: working dir '{}' is not absolute", c.workdir));
  }
  if (cfg.contains("ExposedPorts") && !cfg["ExposedPorts"].is_null()) {
    if (!cfg["ExposedPorts"].is_object())
      return absl::DataLossError("image config: 'ExposedPorts' is not an object");
    for (const auto& [key, _] : cfg["ExposedPorts"].items()) {
      std::string port = key, proto = "tcp";
      if (size_t slash = key.find('/'); slash != std::string::npos) {
        port = key.substr(0, slash);
        proto = key.substr(slash + 1);
      }
      std::optional<int64_t> p = ParseInt(port);
      if (!p.has_value() || *p < 1 || *p > 65535 ||
          (proto != "tcp" && proto != "udp" && proto != "sctp")) {
        return absl::DataLossError(
            fmt::format("image config: exposed port '{}' is not PORT/tcp", key));
      }
      if (proto == "tcp") c.tcp_ports.push_back(static_cast<uint16_t>(*p));
    }
    std::sort(c.tcp_ports.begin(), c.tcp_ports.end());
  }
  return c;
}

namespace {

// UnpackOciLayer, with `verified` called once the layer is unpacked and before it is
// renamed into the cache: an error from it (the blob's digest check, run beside the
// unpacking) discards the layer and is the error returned.
absl::StatusOr<std::string> UnpackLayer(const std::string& cache_dir, const std::string& blob,
                                        const std::string& digest, const std::string& media_type,
                                        const std::function<absl::Status()>& verified) {
  static const std::set<std::string> kLayerTypes = {
      "application/vnd.oci.image.layer.v1.tar", "application/vnd.oci.image.layer.v1.tar+gzip",
      "application/vnd.oci.image.layer.v1.tar+zstd",
      "application/vnd.docker.image.rootfs.diff.tar.gzip"};
  if (!kLayerTypes.count(media_type)) {
    return absl::InvalidArgumentError(fmt::format(
        "layer {}: media type '{}' is not a tar layer prewarm can unpack", digest, media_type));
  }
  ASSIGN_OR_RETURN(std::string hex, DigestHex(digest));
  std::string key = Sha256OfString(fmt::format("{}|{}", kOciLayerVersion, hex));
  auto dir = MaterializeLayer(cache_dir, "oci", key, [&](const fs::path& root) {
    absl::Status unpacked = UnpackInto(root, blob, media_type);
    RETURN_IF_ERROR(verified());  // a corrupt blob explains a failed unpack
    return unpacked;
  });
  if (!dir.ok())
    return absl::Status(dir.status().code(),
                        fmt::format("layer {}: {}", digest, dir.status().message()));
  return dir;
}

}  // namespace

absl::StatusOr<std::string> UnpackOciLayer(const std::string& cache_dir, const std::string& blob,
                                           const std::string& digest,
                                           const std::string& media_type) {
  return UnpackLayer(cache_dir, blob, digest, media_type, [] { return absl::OkStatus(); });
}

absl::StatusOr<std::string> BuildMountPointLayer(const std::string& cache_dir) {
  return MaterializeLayer(cache_dir, "mountpoints", Sha256OfString("mountpoints-v1"),
                          [](const fs::path& root) -> absl::Status {
                            for (const char* d : {"proc", "dev", "sys", "run", "tmp"}) {
                              fs::path p = root / d;
                              if (::mkdir(p.c_str(), 0755) != 0)
                                return ErrnoStatus(errno, "mkdir " + p.string());
                            }
                            if (::chmod((root / "tmp").c_str(), 01777) != 0)
                              return ErrnoStatus(errno, "chmod tmp");
                            return absl::OkStatus();
                          });
}

absl::StatusOr<OciImage> ImportOciLayout(const std::string& cache_dir, const std::string& layout,
                                         const std::string& ref, const PullProgress& progress) {
  auto in_image = [&](const absl::Status& st) {
    return absl::Status(st.code(), fmt::format("image {}: {}", ref, st.message()));
  };
  const Clock::time_point t_start = Clock::now();
  auto index_text = ReadSmallFile(layout + "/index.json", kMaxJsonBlob);
  if (!index_text.ok()) return in_image(index_text.status());
  auto index = ParseJson(*index_text, "index.json");
  if (!index.ok()) return in_image(index.status());
  if (!index->contains("manifests") || !(*index)["manifests"].is_array() ||
      (*index)["manifests"].size() != 1) {
    return in_image(absl::DataLossError("index.json must name exactly one manifest"));
  }
  auto desc = ParseDescriptor((*index)["manifests"][0], "index.json");
  if (!desc.ok()) return in_image(desc.status());
  auto manifest = VerifiedJsonBlob(layout, *desc, "manifest");
  if (!manifest.ok()) return in_image(manifest.status());
  std::string media = desc->media_type;
  if (media.empty() && manifest->contains("mediaType") && (*manifest)["mediaType"].is_string()) {
    media = (*manifest)["mediaType"].get<std::string>();
  }
  if (media == kOciIndex || media == kDockerList) {
    // A multi-platform image: this node's platform.
    if (!manifest->contains("manifests") || !(*manifest)["manifests"].is_array()) {
      return in_image(absl::DataLossError("the image index lists no manifests"));
    }
    std::string arch = HostArchitecture();
    std::optional<Descriptor> pick;
    for (const json& m : (*manifest)["manifests"]) {
      auto d = ParseDescriptor(m, "image index");
      if (!d.ok()) return in_image(d.status());
      if (d->os == "linux" && d->architecture == arch) {
        pick = *d;
        break;
      }
    }
    if (!pick)
      return in_image(absl::NotFoundError(fmt::format("the image has no linux/{} variant", arch)));
    desc = *pick;
    manifest = VerifiedJsonBlob(layout, *desc, "manifest");
    if (!manifest.ok()) return in_image(manifest.status());
    media = desc->media_type;
  }
  if (!media.empty() && media != kOciManifest && media != kDockerManifest) {
    return in_image(absl::InvalidArgumentError(
        fmt::format("manifest media type '{}' is not an image manifest", media)));
  }
  OciImage img;
  img.ref = ref;
  img.manifest_digest = desc->digest;
  if (!manifest->contains("config"))
    return in_image(absl::DataLossError("the manifest has no config"));
  auto config_desc = ParseDescriptor((*manifest)["config"], "manifest config");
  if (!config_desc.ok()) return in_image(config_desc.status());
  auto config = VerifiedJsonBlob(layout, *config_desc, "config");
  if (!config.ok()) return in_image(config.status());
  std::string arch = HostArchitecture();
  if (config->contains("architecture") && (*config)["architecture"].is_string() &&
      (*config)["architecture"].get<std::string>() != arch) {
    return in_image(absl::InvalidArgumentError(
        fmt::format("the image is for {}; this node is {}",
                    (*config)["architecture"].get<std::string>(), arch)));
  }
  if (config->contains("os") && (*config)["os"].is_string() &&
      (*config)["os"].get<std::string>() != "linux") {
    return in_image(absl::InvalidArgumentError(
        fmt::format("the image is for os '{}', not linux", (*config)["os"].get<std::string>())));
  }
  auto parsed = ParseImageConfig(config->dump());
  if (!parsed.ok()) return in_image(parsed.status());
  img.config = std::move(*parsed);
  img.phases.verify_ms = MsSince(t_start);  // index, manifest and config
  const Clock::time_point t_layers = Clock::now();
  if (!manifest->contains("layers") || !(*manifest)["layers"].is_array() ||
      (*manifest)["layers"].empty()) {
    return in_image(absl::DataLossError("the manifest has no layers"));
  }
  const json& layers = (*manifest)["layers"];
  std::vector<std::string> dirs;
  for (size_t i = 0; i < layers.size(); ++i) {  // the manifest lists the base first
    auto ld = ParseDescriptor(layers[i], "manifest layer");
    if (!ld.ok()) return in_image(ld.status());
    auto blob = BlobOfSize(layout, *ld);
    if (!blob.ok()) return in_image(blob.status());
    // The digest check (a second pass over the blob) runs on a thread of its own while
    // the layer is unpacked; the layer is renamed into the cache only after it passed.
    std::future<std::pair<absl::Status, double>> check =
        std::async(std::launch::async, [path = *blob, d = *ld] {
          const Clock::time_point t0 = Clock::now();
          absl::Status st = CheckBlobDigest(path, d);
          return std::make_pair(st, MsSince(t0));
        });
    std::optional<absl::Status> verdict;
    auto verified = [&]() -> absl::Status {
      if (!verdict) {
        auto [st, ms] = check.get();
        img.phases.verify_ms += ms;
        verdict = st;
      }
      return *verdict;
    };
    const Clock::time_point t0 = Clock::now();
    auto dir = UnpackLayer(cache_dir, *blob, ld->digest, ld->media_type, verified);
    img.phases.unpack_ms += MsSince(t0);
    // Also when the layer was in the cache already (no unpack): every blob is checked.
    if (absl::Status st = verified(); !st.ok()) return in_image(st);
    if (!dir.ok()) return in_image(dir.status());
    if (progress) {
      progress(fmt::format("layer {}/{} {} ({:.1f} MB) unpacked", i + 1, layers.size(),
                           ld->digest.substr(0, 19), static_cast<double>(ld->size) / 1e6));
    }
    img.blob_bytes += ld->size;
    img.layer_digests.insert(img.layer_digests.begin(), ld->digest);
    img.layers.insert(img.layers.begin(), *dir);
  }
  img.phases.layers_ms = MsSince(t_layers);
  return img;
}

namespace {

constexpr std::string_view kStagingPrefix = ".tmp-pull-";

// The temporary layouts of pulls whose agent is gone (a crash mid-pull): unmounted and
// removed. A live process's (this one's, or another agent's on the same cache) are kept.
void RemoveStaleStaging(const std::string& cache_dir) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(cache_dir, ec)) {
    std::string name = e.path().filename().string();
    if (!name.starts_with(kStagingPrefix)) continue;
    std::string rest = name.substr(kStagingPrefix.size());
    std::optional<int64_t> pid = ParseInt(rest.substr(0, rest.find('-')));
    if (!pid || *pid <= 0 || *pid == ::getpid()) continue;
    if (::kill(static_cast<pid_t>(*pid), 0) == 0 || errno != ESRCH) continue;
    ::umount2(e.path().c_str(), MNT_DETACH);  // EINVAL when it is no mount: fine
    std::error_code rm;
    fs::remove_all(e.path(), rm);
    spdlog::info("oci: removed {} (left by a pull that did not finish)", e.path().string());
  }
}

// Puts a tmpfs of its own on the empty directory `dir`, for skopeo's layout: the layout is
// transient (its blobs are unpacked and dropped within the pull; what a crash loses, the
// next pull fetches again), so it need not reach the disk, and skopeo's fsync of every
// blob then costs nothing. Bounded (a quarter of the free memory, at most 4 GiB) so a
// large image cannot take the node's memory: one that does not fit is pulled again on
// disk. False when no tmpfs can be mounted (not root): the layout stays on disk.
bool MountStaging(const std::string& dir) {
  long pages = ::sysconf(_SC_AVPHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page <= 0) return false;
  uint64_t size = std::min<uint64_t>(4ull << 30, static_cast<uint64_t>(pages) * page / 4);
  if (size < (64ull << 20)) return false;
  std::string opts = fmt::format("mode=0700,size={}", size);
  if (::mount("prewarm-pull", dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
              opts.c_str()) != 0) {
    spdlog::debug("oci: no tmpfs for the pull ({}): the layout goes to disk", std::strerror(errno));
    return false;
  }
  return true;
}

// Less than 64 MiB left on the staging tmpfs: a failed copy ran out of room there.
bool StagingFull(const std::string& dir) {
  struct statvfs st;
  if (::statvfs(dir.c_str(), &st) != 0) return false;
  return static_cast<uint64_t>(st.f_bavail) * st.f_frsize < (64ull << 20);
}

}  // namespace

absl::StatusOr<OciImage> PullOciImage(ProcessRunner& runner, const std::string& cache_dir,
                                      const ImageRef& ref, const PullOptions& options) {
  std::string name = ref.ToString();
  std::pair<uint64_t, int64_t> stamp{0, 0};
  if (ref.transport == ImageRef::Transport::kOciArchive) {
    ASSIGN_OR_RETURN(stamp, ArchiveStamp(ref.location));
  }
  static std::atomic<uint64_t> counter{0};
  std::error_code ec;
  fs::create_directories(RecordDir(cache_dir), ec);
  if (ec) return FsError(ec, "mkdir " + RecordDir(cache_dir));
  RemoveStaleStaging(cache_dir);
  std::string layout =
      fmt::format("{}/{}{}-{}", cache_dir, kStagingPrefix, ::getpid(), counter.fetch_add(1));
  fs::remove_all(layout, ec);
  fs::create_directory(layout, ec);
  if (ec) return FsError(ec, "mkdir " + layout);
  bool mounted = MountStaging(layout);
  auto drop_layout = [&] {
    if (mounted && ::umount2(layout.c_str(), MNT_DETACH) != 0)
      spdlog::warn("oci: umount {}: {}", layout, std::strerror(errno));
    mounted = false;
    std::error_code rm;
    fs::remove_all(layout, rm);
  };
  std::vector<std::string> argv = {"skopeo", "copy", "--retry-times", "2"};
  if (ref.loopback())
    argv.push_back("--src-tls-verify=false");  // a test registry on this node, plain HTTP
  argv.push_back(name);
  argv.push_back("oci:" + layout + "/image:image");
  if (options.progress) options.progress(fmt::format("copying {}", name));
  const Clock::time_point t_fetch = Clock::now();
  auto copy = [&]() -> absl::Status {
    if (!options.skopeo_log.empty()) {
      SpawnOptions so;
      so.argv = argv;
      so.log_path = options.skopeo_log;
      absl::StatusOr<pid_t> pid = runner.Spawn(so);
      if (!pid.ok())
        return absl::FailedPreconditionError(
            fmt::format("cannot run skopeo: {}", pid.status().message()));
      auto code = WaitFor(runner, *pid, options.timeout);
      if (!code.ok()) return code.status();
      if (!code->has_value()) {
        runner.Signal(*pid, SIGKILL).IgnoreError();
        WaitFor(runner, *pid, std::chrono::seconds(5)).IgnoreError();
        return absl::DeadlineExceededError(fmt::format("pulling {}: skopeo timed out", name));
      }
      if (**code != 0) {
        return absl::UnavailableError(
            fmt::format("pulling {}: skopeo failed (exit {}; its output is above)", name, **code));
      }
      return absl::OkStatus();
    }
    auto r = runner.Run(argv, options.timeout);
    if (!r.ok()) {
      if (absl::IsNotFound(r.status()) || absl::IsFailedPrecondition(r.status())) {
        return absl::FailedPreconditionError(
            fmt::format("cannot run skopeo ({}): install Debian's skopeo", r.status().message()));
      }
      return absl::Status(r.status().code(),
                          fmt::format("pulling {}: {}", name, r.status().message()));
    }
    if (r->exit_code != 0) {
      return absl::UnavailableError(
          fmt::format("pulling {}: skopeo: {}", name, LastLine(r->output)));
    }
    return absl::OkStatus();
  };
  absl::Status copied = copy();
  if (!copied.ok() && mounted && StagingFull(layout)) {
    spdlog::info("oci: {} does not fit the pull's tmpfs: pulling it again on disk", name);
    drop_layout();
    fs::create_directory(layout, ec);
    if (ec) return FsError(ec, "mkdir " + layout);
    copied = copy();
  }
  if (!copied.ok()) {
    drop_layout();
    return copied;
  }
  const double fetch_ms = MsSince(t_fetch);
  const bool staged_on_tmpfs = mounted;
  absl::StatusOr<OciImage> img =
      ImportOciLayout(cache_dir, layout + "/image", name, options.progress);
  const Clock::time_point t_record = Clock::now();
  drop_layout();
  if (!img.ok()) return img.status();
  img->archive_size = stamp.first;
  img->archive_mtime_ns = stamp.second;
  RETURN_IF_ERROR(WriteFileAtomically(RecordPath(cache_dir, name), RecordJson(*img)));
  PullPhases& ph = img->phases;
  ph.fetch_ms = fetch_ms;
  ph.record_ms = MsSince(t_record);
  spdlog::info(
      "oci: pulled {} ({:.1f} MB{}): skopeo {:.1f} ms, digests {:.1f} ms, unpack {:.1f} ms "
      "(layers {:.1f} ms wall), record {:.1f} ms",
      name, static_cast<double>(img->blob_bytes) / 1e6, staged_on_tmpfs ? ", via tmpfs" : "",
      ph.fetch_ms, ph.verify_ms, ph.unpack_ms, ph.layers_ms, ph.record_ms);
  return img;
}

absl::StatusOr<OciImage> EnsureOciImage(ProcessRunner& runner, const std::string& cache_dir,
                                        const ImageRef& ref, const PullOptions& options) {
  std::string name = ref.ToString();
  std::string record = RecordPath(cache_dir, name);
  std::error_code ec;
  if (fs::exists(record, ec)) {
    auto img = ParseRecord(cache_dir, record);
    bool usable = img.ok() && img->ref == name;
    for (size_t i = 0; usable && i < img->layers.size(); ++i)
      usable = fs::is_directory(img->layers[i], ec);
    if (usable && ref.transport == ImageRef::Transport::kOciArchive) {
      ASSIGN_OR_RETURN(auto stamp, ArchiveStamp(ref.location));
      usable = stamp.first == img->archive_size && stamp.second == img->archive_mtime_ns;
    }
    if (usable) return img;
    if (!img.ok()) spdlog::warn("oci: pulling {} again: {}", name, img.status().ToString());
  }
  return PullOciImage(runner, cache_dir, ref, options);
}

absl::StatusOr<std::vector<OciImage>> ListOciImages(const std::string& cache_dir) {
  std::vector<OciImage> out;
  std::error_code ec;
  if (!fs::is_directory(RecordDir(cache_dir), ec)) return out;
  for (const auto& e : fs::directory_iterator(RecordDir(cache_dir), ec)) {
    if (e.path().extension() != ".json") continue;
    ASSIGN_OR_RETURN(OciImage img, ParseRecord(cache_dir, e.path().string()));
    out.push_back(std::move(img));
  }
  if (ec) return FsError(ec, "list " + RecordDir(cache_dir));
  std::sort(out.begin(), out.end(),
            [](const OciImage& a, const OciImage& b) { return a.ref < b.ref; });
  return out;
}

absl::Status ForgetOciImage(const std::string& cache_dir, const std::string& ref) {
  std::string path = RecordPath(cache_dir, ref);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return ErrnoStatus(errno, "remove " + path);
  return absl::OkStatus();
}

absl::StatusOr<std::optional<std::pair<uint32_t, uint32_t>>> ResolveImageUser(
    const std::string& user, const std::vector<std::string>& layers) {
  if (user.empty()) return std::nullopt;
  std::string u = user, g;
  if (size_t colon = user.find(':'); colon != std::string::npos) {
    u = user.substr(0, colon);
    g = user.substr(colon + 1);
    if (g.empty()) return absl::InvalidArgumentError(fmt::format("user '{}': empty group", user));
  }
  if (u.empty()) return absl::InvalidArgumentError(fmt::format("user '{}': empty user", user));
  ASSIGN_OR_RETURN(std::vector<std::string> passwd, EtcFile(layers, "passwd"));
  uint32_t uid = 0, gid = 0;
  std::optional<uint32_t> numeric = ParseId(u);
  auto entry = FindEntry(passwd, numeric ? std::to_string(*numeric) : u, numeric.has_value());
  if (numeric) {
    uid = *numeric;
    // docker's rule: a uid without a passwd line runs with gid 0.
    gid = entry && entry->size() > 3 ? ParseId((*entry)[3]).value_or(0) : 0;
  } else {
    if (!entry || entry->size() < 4 || !ParseId((*entry)[2]) || !ParseId((*entry)[3])) {
      return absl::NotFoundError(fmt::format("user '{}' is not in the image's /etc/passwd", u));
    }
    uid = *ParseId((*entry)[2]);
    gid = *ParseId((*entry)[3]);
  }
  if (!g.empty()) {
    if (std::optional<uint32_t> ng = ParseId(g)) {
      gid = *ng;
    } else {
      ASSIGN_OR_RETURN(std::vector<std::string> group, EtcFile(layers, "group"));
      auto ge = FindEntry(group, g, false);
      if (!ge || !ParseId((*ge)[2]))
        return absl::NotFoundError(fmt::format("group '{}' is not in the image's /etc/group", g));
      gid = *ParseId((*ge)[2]);
    }
  }
  return std::make_pair(uid, gid);
}

}  // namespace prewarm::agent
