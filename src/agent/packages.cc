#include "agent/packages.h"

#include <filesystem>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "agent/layers.h"
#include "fmt/format.h"

namespace prewarm::agent {
namespace fs = std::filesystem;

namespace {

constexpr auto kAptTimeout = std::chrono::minutes(10);

bool ValidPackageName(const std::string& n) {
  if (n.empty() || n.size() > 100) return false;
  for (char c : n) {
    if (!std::islower(static_cast<unsigned char>(c)) && !std::isdigit(static_cast<unsigned char>(c)) &&
        c != '.' && c != '+' && c != '-') {
      return false;
    }
  }
  return true;
}

}  // namespace

const std::set<std::string>& DefaultExcludedPackages() {
  static const std::set<std::string> kExcluded = {"adduser", "debconf", "dpkg", "init-system-helpers",
                                                  "lsb-base", "perl-base", "sysvinit-utils"};
  return kExcluded;
}

absl::StatusOr<std::vector<DebPackage>> ResolvePackages(ProcessRunner& runner, const std::vector<std::string>& wanted,
                                                        const std::set<std::string>& exclude) {
  if (wanted.empty()) return std::vector<DebPackage>{};
  for (const std::string& w : wanted) {
    if (!ValidPackageName(w)) return absl::InvalidArgumentError(fmt::format("'{}' is not a Debian package name", w));
  }
  // As if nothing were installed: the whole closure, not what this host happens to lack.
  std::vector<std::string> argv = {"apt-get", "--simulate", "-o", "Dir::State::status=/dev/null", "-o",
                                   "Debug::NoLocking=1", "--no-install-recommends", "-q", "install"};
  argv.insert(argv.end(), wanted.begin(), wanted.end());
  ASSIGN_OR_RETURN(ProcessResult r, runner.Run(argv, kAptTimeout));
  if (r.exit_code != 0) {
    std::string why = r.output;
    for (const std::string& w : wanted) {
      if (why.find("Unable to locate package " + w) != std::string::npos ||
          why.find("Package '" + w + "' has no installation candidate") != std::string::npos ||
          why.find("Package " + w + " is not available") != std::string::npos) {
        return absl::NotFoundError(fmt::format("package '{}' is not known to apt (apt-get update? a typo?)", w));
      }
    }
    return absl::FailedPreconditionError(fmt::format("apt cannot resolve {}: {}", fmt::join(wanted, " "),
                                                     why.substr(0, 600)));
  }
  std::set<std::string> named(wanted.begin(), wanted.end());
  std::map<std::string, DebPackage> out;
  std::istringstream lines(r.output);
  for (std::string line; std::getline(lines, line);) {
    // "Inst libc6 (2.36-9+deb12u14 Debian:12.13/stable [amd64])"
    if (!line.starts_with("Inst ")) continue;
    std::istringstream f(line.substr(5));
    DebPackage p;
    std::string paren;
    f >> p.name >> paren;
    if (paren.size() < 2 || paren[0] != '(') continue;
    p.version = paren.substr(1);
    if (exclude.count(p.name) && !named.count(p.name)) continue;
    out[p.name] = p;
  }
  if (out.empty()) return absl::InternalError(fmt::format("apt resolved nothing for {}", fmt::join(wanted, " ")));
  // Hashes and file names from apt's index.
  std::vector<std::string> show = {"apt-cache", "show", "--no-all-versions"};
  for (const auto& [name, p] : out) show.push_back(name + "=" + p.version);
  ASSIGN_OR_RETURN(ProcessResult s, runner.Run(show, kAptTimeout));
  if (s.exit_code != 0) return absl::FailedPreconditionError("apt-cache show: " + s.output.substr(0, 600));
  std::istringstream rec(s.output);
  std::string cur;
  for (std::string line; std::getline(rec, line);) {
    auto field = [&](const char* k) -> std::optional<std::string> {
      std::string key = std::string(k) + ": ";
      if (line.starts_with(key)) return line.substr(key.size());
      return std::nullopt;
    };
    if (auto v = field("Package")) cur = *v;
    auto it = out.find(cur);
    if (it == out.end()) continue;
    if (auto v = field("SHA256")) it->second.sha256 = *v;
    if (auto v = field("Filename")) it->second.filename = fs::path(*v).filename().string();
    if (auto v = field("Size")) it->second.size = std::strtoull(v->c_str(), nullptr, 10);
  }
  std::vector<DebPackage> list;
  for (auto& [name, p] : out) {
    if (p.sha256.size() != 64 || p.filename.empty()) {
      return absl::FailedPreconditionError(fmt::format("apt's index has no SHA256/Filename for {} {}", name, p.version));
    }
    list.push_back(std::move(p));
  }
  return list;
}

namespace {

// Where apt-get download leaves `p`: the pool's file name, but with the version's epoch
// ("1%3a4.4.33-2") when it has one.
std::string DownloadedName(const DebPackage& p) {
  std::string version = p.version;
  if (auto colon = version.find(':'); colon != std::string::npos) version.replace(colon, 1, "%3a");
  return fmt::format("{}_{}_{}", p.name, version, p.filename.substr(p.filename.rfind('_') + 1));
}

// True when <dir>/<p.filename> exists with apt's SHA256; removes it when it does not.
bool Verified(const std::string& dir, const DebPackage& p) {
  std::string path = dir + "/" + p.filename;
  std::error_code ec;
  if (!fs::exists(path, ec)) return false;
  auto sha = Sha256OfFile(path);
  if (sha.ok() && *sha == p.sha256) return true;
  fs::remove(path, ec);  // corrupt or truncated: fetch again
  return false;
}

}  // namespace

absl::Status FetchDebs(ProcessRunner& runner, const std::string& cache_dir, const std::vector<DebPackage>& pkgs) {
  std::string dir = cache_dir + "/debs";
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return absl::InternalError(fmt::format("mkdir {}: {}", dir, ec.message()));
  std::vector<const DebPackage*> missing;
  for (const DebPackage& p : pkgs) {
    if (!Verified(dir, p)) missing.push_back(&p);
  }
  if (missing.empty()) return absl::OkStatus();
  // One apt-get for all of them: its start-up costs about a second.
  std::string cmd = fmt::format("cd '{}' && apt-get download -q", dir);
  for (const DebPackage* p : missing) cmd += fmt::format(" '{}={}'", p->name, p->version);
  ASSIGN_OR_RETURN(ProcessResult r, runner.Run({"sh", "-c", cmd}, kAptTimeout));
  for (const DebPackage* p : missing) {
    std::string path = dir + "/" + p->filename;
    if (!fs::exists(path)) fs::rename(dir + "/" + DownloadedName(*p), path, ec);
    if (!fs::exists(path)) {
      return absl::UnavailableError(fmt::format("apt-get download {}={} (exit {}): {}", p->name, p->version,
                                                r.exit_code, r.output.substr(0, 400)));
    }
    if (!Verified(dir, *p)) {
      return absl::DataLossError(fmt::format("{}: the download does not match apt's SHA256 {}", path, p->sha256));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> FetchDeb(ProcessRunner& runner, const std::string& cache_dir, const DebPackage& p) {
  RETURN_IF_ERROR(FetchDebs(runner, cache_dir, {p}));
  return cache_dir + "/debs/" + p.filename;
}

absl::StatusOr<std::vector<std::string>> BuildPackageLayers(ProcessRunner& runner, const std::string& cache_dir,
                                                            const std::vector<std::string>& wanted,
                                                            const std::set<std::string>& exclude) {
  ASSIGN_OR_RETURN(std::vector<DebPackage> pkgs, ResolvePackages(runner, wanted, exclude));
  return BuildDebLayers(runner, cache_dir, pkgs);
}

absl::StatusOr<std::vector<std::string>> BuildDebLayers(ProcessRunner& runner, const std::string& cache_dir,
                                                        const std::vector<DebPackage>& pkgs) {
  RETURN_IF_ERROR(FetchDebs(runner, cache_dir, pkgs));
  std::vector<std::string> layers;
  for (const DebPackage& p : pkgs) {
    ASSIGN_OR_RETURN(std::string layer, BuildDebLayer(runner, cache_dir, cache_dir + "/debs/" + p.filename, p.name));
    layers.push_back(std::move(layer));
  }
  return layers;
}

absl::StatusOr<uint64_t> InstalledBytes(ProcessRunner& runner, const std::string& deb) {
  ASSIGN_OR_RETURN(ProcessResult r, runner.Run({"dpkg-deb", "--field", deb, "Installed-Size"}, kAptTimeout));
  uint64_t kib = 0;
  if (r.exit_code != 0 || !absl::SimpleAtoi(absl::StripAsciiWhitespace(r.output), &kib)) {
    return absl::DataLossError(fmt::format("{}: no Installed-Size: {}", deb, r.output.substr(0, 200)));
  }
  return kib << 10;
}

}  // namespace prewarm::agent
