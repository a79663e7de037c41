// A template's image on this node: the content-addressed layers its instances' root is
// stacked from and, for install_packages, the directory of .debs its instances install
// at start. Shared by the agent, `prewarm image` and the runtime tests.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "agent/config.h"
#include "agent/oci_image.h"
#include "agent/runtime.h"
#include "common/process.h"
#include "common/status.h"

namespace prewarm::agent {

// What a template's instances are made of on this node.
struct TemplateImage {
  // top first: files, package closure (by name), busybox base; or, with an OCI image:
  // files, mount points, the image's layers
  std::vector<std::string> layers;
  std::string image_ref;  // the OCI image's reference (ImageRef::ToString()), if any
  // What the workload is (see TemplateConfig): the template's command, or the image's
  // entrypoint + cmd; the image's env (the template's env is added over it); user,
  // working dir and port from the template or else the image.
  std::vector<std::string> command;
  std::map<std::string, std::string> env;
  std::optional<std::pair<uint32_t, uint32_t>> user;
  std::string cwd = "/";
  uint16_t app_port = 0;
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
// prewarm-guest-activate; `runner` runs apt, dpkg-deb and skopeo. A template with an
// image uses the image recorded in the cache, or pulls it (with `pull`).
absl::StatusOr<TemplateImage> BuildTemplateImage(const std::string& cache_dir,
                                                 const TemplateConfig& t,
                                                 const std::string& binary_dir,
                                                 ProcessRunner& runner,
                                                 const PullOptions& pull = {});

// What the runtimes are given: `t`'s command and resources over `img`.
TemplateSpec TemplateSpecOf(const TemplateConfig& t, TemplateImage img);

}  // namespace prewarm::agent
