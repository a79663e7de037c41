// One definition per template (issue 19): a directory of template files, one template per
// file (the format of examples/templates/*.yaml), that the orchestrator, every agent and
// the forecaster read (`template_dir` in each one's config). Each daemon takes its keys of a
// file: the agent how an instance is built and run (agent/config.h, ParseTemplateConfig),
// the orchestrator how the template is served, the forecaster how demand turns into
// instances. The serving keys below are parsed here, by all three alike.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/yaml_reader.h"

namespace prewarm {

struct TemplateServing {
  std::string tier = "standard";  // the services' plan: the price of a cold start
  double service_time_s = 0.05;   // mean service time, until the orchestrator measures it
  uint32_t concurrency = 10;      // requests one instance serves at once
  int64_t keepalive_ms = 0;       // idle this long -> may be drained (0: the global keep-alive)
  double start_time_s = 0.05;     // create -> ready, until measured: the forecaster's lead
};

// An instance's scratch storage when its template gives none (the agent's `scratch`; the
// forecaster's bound on the trending content it names).
inline constexpr uint64_t kDefaultScratchBytes = 64ull << 20;

// The keys of a template file that TemplateServing holds.
inline constexpr std::string_view kTemplateServingKeys[] = {"tier", "service_time_s", "concurrency",
                                                            "keepalive_s", "start_time_s"};

// The serving keys of one template (a file, or an inline entry): absent keys take the
// defaults above; a value out of range is an error naming the file, line and key.
absl::StatusOr<TemplateServing> ParseTemplateServing(const YamlReader& t);

// The template files of `dir` (every *.yaml and *.yml, in name order), each read and with
// a `name`; two files with one name are an error naming both. An error names the
// directory when it cannot be listed or holds no template file.
absl::StatusOr<std::vector<YamlReader>> ReadTemplateDir(const std::string& dir);

// The templates defined once for one daemon: `given` (`prewarm up`'s top-level
// `templates`, which it hands to each daemon it runs), then the files of the config's
// `template_dir`, resolved beside the config file. A name in both is an error.
struct SharedTemplates {
  std::vector<YamlReader> definitions;
  std::string origin;  // where they are defined, for errors: "template_dir D", ...
  bool Defines(std::string_view name) const;
};
absl::StatusOr<SharedTemplates> ReadSharedTemplates(const YamlReader& config,
                                                    const std::vector<YamlReader>& given);

}  // namespace prewarm
