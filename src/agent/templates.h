// Turns the agent's template config into runnable templates: builds (or reuses) the
// content-addressed layers each template needs and fills in the runtime spec.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "agent/agent.h"
#include "agent/config.h"
#include "agent/image.h"
#include "common/process.h"

namespace prewarm::agent {

absl::StatusOr<std::map<std::string, AgentTemplate>> BuildTemplates(const AgentConfig& config,
                                                                    const std::string& binary_dir,
                                                                    ProcessRunner& runner);

// Directory of the running executable (/proc/self/exe).
std::string SelfBinaryDir();

}  // namespace prewarm::agent
