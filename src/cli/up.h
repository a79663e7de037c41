#pragma once

#include <string>

namespace prewarm::cli {

// The embedded default config of `prewarm up` (examples/up.yaml, compiled in).
extern const char* const kEmbeddedUpConfig;

// `prewarm up`: origin + orchestrator + agents in one process until SIGINT/SIGTERM.
// `runtime` non-empty overrides every agent's runtime kind (oci | qemu | fake).
int RunUp(const std::string& config_path, const std::string& runtime = "");
int RunOrchestrator(const std::string& config_path);
int RunAgent(const std::string& config_path);

}  // namespace prewarm::cli
