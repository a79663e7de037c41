// Turns the agent's template config into runnable templates: builds (or reuses) the
// content-addressed layers each template needs and fills in the runtime spec.
#pragma once

#include <map>
#include <string>

#include "agent/agent.h"
#include "agent/config.h"
#include "common/process.h"

namespace prewarm::agent {

// The layers of one template, top first: its files, its packages' closure (sorted by
// name), the busybox base. `binary_dir` resolves "@name" host paths (binaries installed
// next to prewarm); `runner` runs apt and dpkg-deb for packages.
absl::StatusOr<std::vector<std::string>> BuildTemplateLayers(const std::string& cache_dir, const TemplateConfig& t,
                                                             const std::string& binary_dir, ProcessRunner& runner);

absl::StatusOr<std::map<std::string, AgentTemplate>> BuildTemplates(const AgentConfig& config,
                                                                    const std::string& binary_dir,
                                                                    ProcessRunner& runner);

// Directory of the running executable (/proc/self/exe).
std::string SelfBinaryDir();

}  // namespace prewarm::agent
