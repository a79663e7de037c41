#pragma once

#include <string>

namespace prewarm::cli {

// The embedded default config of `prewarm up` (examples/up.yaml, compiled in).
extern const char* const kEmbeddedUpConfig;

// `prewarm up`: origin + orchestrator + agents in one process until SIGINT/SIGTERM.
int RunUp(const std::string& config_path);
int RunOrchestrator(const std::string& config_path);
int RunAgent(const std::string& config_path);

}  // namespace prewarm::cli
