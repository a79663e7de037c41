// A template's image on this node: the content-addressed layers its instances' root is
// stacked from and, for install_packages, the directory of .debs its instances install
// at start. Shared by the agent, `prewarm image` and the runtime tests.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "agent/config.h"
#include "agent/runtime.h"
#include "common/process.h"
#include "common/status.h"

namespace prewarm::agent {

// What a template's instances are made of on this node.
struct TemplateImage {
  std::vector<std::string> layers;  // top first: files, package closure (by name), busybox base
  // install_packages only (see TemplateSpec::install_dir): the directory of verified .debs
  // (+ prewarm-guest-activate) and what they take once installed.
  std::string install_dir;
  uint64_t install_bytes = 0;
  std::vector<std::string> installed;  // the package names, sorted
};

// The guest's package tool, pre-built as layers into every template that installs
// packages at start: dpkg and what dpkg refuses to run without (ldconfig, diff).
const std::vector<std::string>& GuestPackageTool();

// Builds (or reuses) the content-addressed layers of `t` and, with install_packages, its
// install directory: the install_packages' closure minus every package the layers have.
// `binary_dir` resolves "@name" host paths (binaries installed next to prewarm) and holds
// prewarm-guest-activate; `runner` runs apt and dpkg-deb.
absl::StatusOr<TemplateImage> BuildTemplateImage(const std::string& cache_dir, const TemplateConfig& t,
                                                 const std::string& binary_dir, ProcessRunner& runner);

// What the runtimes are given: `t`'s command and resources over `img`.
TemplateSpec TemplateSpecOf(const TemplateConfig& t, TemplateImage img);

}  // namespace prewarm::agent
