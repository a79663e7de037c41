#include "agent/templates.h"

#include <filesystem>
#include <set>

#include "agent/layers.h"
#include "agent/packages.h"
#include "fmt/format.h"

namespace prewarm::agent {

std::string SelfBinaryDir() {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? "." : exe.parent_path().string();
}

absl::StatusOr<std::map<std::string, AgentTemplate>> BuildTemplates(const AgentConfig& config,
                                                                    const std::string& binary_dir,
                                                                    ProcessRunner& runner) {
  std::map<std::string, AgentTemplate> out;
  for (const TemplateConfig& t : config.templates) {
    AgentTemplate at;
    ASSIGN_OR_RETURN(TemplateImage img, BuildTemplateImage(config.cache_dir, t, binary_dir, runner));
    at.spec.layers = std::move(img.layers);
    at.spec.install_dir = std::move(img.install_dir);
    at.spec.install_bytes = img.install_bytes;
    at.spec.name = t.name;
    at.spec.command = t.command;
    at.spec.env = t.env;
    at.spec.memory_limit_bytes = t.memory_bytes;
    at.spec.pids_limit = t.pids;
    at.spec.cpus = t.cpus;
    at.spec.scratch_bytes = t.scratch_bytes;
    at.spec.scratch_mount = t.scratch_mount;
    at.spec.probe_path = t.probe_path;
    at.preload = t.preload;
    out.emplace(t.name, std::move(at));
  }
  return out;
}

}  // namespace prewarm::agent
