// Tests of real runtimes: the layers of a `static` instance (prewarm-httpd over the
// busybox base), top first, built under `cache_dir`; and a template that installs a
// package at start (install_packages).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "agent/image.h"
#include "agent/layers.h"
#include "agent/runtime.h"

namespace prewarm::agent {

inline absl::StatusOr<std::vector<std::string>> StaticTestLayers(const std::string& cache_dir,
                                                                 const std::string& httpd_path) {
  ASSIGN_OR_RETURN(std::string base, BuildBaseLayer(cache_dir));
  ASSIGN_OR_RETURN(std::string httpd,
                   BuildFileLayer(cache_dir, "httpd", {{httpd_path, "/usr/bin/prewarm-httpd"}}));
  return std::vector<std::string>{httpd, base};
}

// A template whose instances install libyaml-0-2 (in no layer: only dpkg's closure is)
// at start, then write what dpkg-query, `id -u` and stat say into <dir>/index.html and
// serve <dir> with prewarm-httpd. Built in the tests' package cache.
inline absl::StatusOr<TemplateSpec> InstallingTestTemplate(ProcessRunner& runner, const std::string& dir,
                                                           const std::string& httpd_path,
                                                           const std::string& activate_path) {
  TemplateConfig t;
  t.name = "installer";
  t.command = {"/bin/sh", "-c",
               "{ /usr/bin/dpkg-query -W -f '${Package} ${Status}\\n' libyaml-0-2; id -u;"
               " stat -L -c 'owner %u:%g' /usr/lib/x86_64-linux-gnu/libyaml-0.so.2; } > " + dir + "/index.html 2>&1;"
               " exec /usr/bin/prewarm-httpd --root " + dir};
  t.files = {{httpd_path, "/usr/bin/prewarm-httpd"}};
  t.install_packages = {"libyaml-0-2"};
  ASSIGN_OR_RETURN(TemplateImage img,
                   BuildTemplateImage("/var/cache/prewarm-test/pkgs", t,
                                      std::filesystem::path(activate_path).parent_path().string(), runner));
  if (img.installed != std::vector<std::string>{"libyaml-0-2"}) {  // its libc6 is a layer (dpkg's)
    return absl::InternalError("expected exactly libyaml-0-2 to be installed at start");
  }
  for (const std::string& l : img.layers) {
    if (l.find("deb-libyaml") != std::string::npos) return absl::InternalError("libyaml-0-2 is a layer: " + l);
  }
  return TemplateSpecOf(t, std::move(img));
}

// `spec` with the layers, command and install directory of `t` (its resources stay).
inline void UseTemplate(TemplateSpec& spec, const TemplateSpec& t) {
  spec.layers = t.layers;
  spec.command = t.command;
  spec.install_dir = t.install_dir;
  spec.install_bytes = t.install_bytes;
}

// What an InstallingTestTemplate instance reports once dpkg has installed the package as
// root and the workload runs as nobody.
inline constexpr char kInstalledReport[] = "libyaml-0-2 install ok installed\n65534\nowner 0:0";

}  // namespace prewarm::agent
