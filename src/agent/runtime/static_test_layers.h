// Tests of real runtimes: the layers of a `static` instance (prewarm-httpd over the
// busybox base), top first, built under `cache_dir`.
#pragma once

#include <string>
#include <vector>

#include "agent/layers.h"

namespace prewarm::agent {

inline absl::StatusOr<std::vector<std::string>> StaticTestLayers(const std::string& cache_dir,
                                                                 const std::string& httpd_path) {
  ASSIGN_OR_RETURN(std::string base, BuildBaseLayer(cache_dir));
  ASSIGN_OR_RETURN(std::string httpd,
                   BuildFileLayer(cache_dir, "httpd", {{httpd_path, "/usr/bin/prewarm-httpd"}}));
  return std::vector<std::string>{httpd, base};
}

}  // namespace prewarm::agent
