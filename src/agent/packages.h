// Debian packages as content-addressed layers: a template names packages (nginx-light,
// python3-minimal, ...); their dependency closure is resolved with apt as if nothing were
// installed (apt-get --simulate against an empty dpkg status), minus packages that only
// serve maintainer scripts (debconf, dpkg, ...); each .deb is fetched with
// `apt-get download` into <cache>/debs, checked against apt's SHA256 (a corrupted or
// truncated cached file is fetched again), and unpacked with `dpkg-deb -x` into
// <cache>/deb-<package>-<sha256 of the .deb> (layers.h's atomic build): the same .deb is
// the same layer for every template that needs it. Maintainer scripts never run.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "common/process.h"
#include "common/status.h"

namespace prewarm::agent {

struct DebPackage {
  std::string name;
  std::string version;
  std::string sha256;    // of the .deb, from apt's index
  std::string filename;  // the .deb's file name in the pool
  uint64_t size = 0;
};

// Packages left out of every closure unless asked for by name: they only matter to
// maintainer scripts and package management, which never run in an instance.
const std::set<std::string>& DefaultExcludedPackages();

// The dependency closure of `wanted` (no recommends), sorted by name, minus `exclude`
// (packages named in `wanted` are never excluded). An unknown package is NotFound.
absl::StatusOr<std::vector<DebPackage>> ResolvePackages(ProcessRunner& runner,
                                                        const std::vector<std::string>& wanted,
                                                        const std::set<std::string>& exclude);

// Makes every package's verified .deb present in <cache_dir>/debs: the missing or corrupt
// ones are downloaded with one apt-get call.
absl::Status FetchDebs(ProcessRunner& runner, const std::string& cache_dir, const std::vector<DebPackage>& pkgs);

// The verified .deb of `p` in <cache_dir>/debs (downloaded when missing or corrupt).
absl::StatusOr<std::string> FetchDeb(ProcessRunner& runner, const std::string& cache_dir, const DebPackage& p);

// Fetch + unpack: one layer per package, in the order given.
absl::StatusOr<std::vector<std::string>> BuildDebLayers(ProcessRunner& runner, const std::string& cache_dir,
                                                        const std::vector<DebPackage>& pkgs);

// The bytes a package occupies once installed: its control file's Installed-Size (KiB).
absl::StatusOr<uint64_t> InstalledBytes(ProcessRunner& runner, const std::string& deb);

// Resolve + fetch + unpack: one layer per package of the closure, sorted by name.
absl::StatusOr<std::vector<std::string>> BuildPackageLayers(ProcessRunner& runner, const std::string& cache_dir,
                                                            const std::vector<std::string>& wanted,
                                                            const std::set<std::string>& exclude);

}  // namespace prewarm::agent
