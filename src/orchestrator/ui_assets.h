// The dashboard's files (src/orchestrator/ui/: the page, its script and the vendored
// libraries with their licences), compiled into the binary so that `/ui` needs nothing
// installed beside it. Generated at build time by src/orchestrator/ui/embed.cmake.
#pragma once

#include <span>
#include <string_view>

namespace prewarm::orchestrator {

struct UiAsset {
  std::string_view path;  // relative to /ui/, e.g. "index.html", "vendor/uplot/LICENSE"
  std::string_view content_type;
  std::string_view data;
};

std::span<const UiAsset> UiAssets();

}  // namespace prewarm::orchestrator
