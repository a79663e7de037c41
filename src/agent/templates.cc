#include "agent/templates.h"

#include <filesystem>

#include "agent/layers.h"
#include "fmt/format.h"

namespace prewarm::agent {

std::string SelfBinaryDir() {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? "." : exe.parent_path().string();
}

absl::StatusOr<std::map<std::string, AgentTemplate>> BuildTemplates(const AgentConfig& config,
                                                                    const std::string& binary_dir) {
  std::map<std::string, AgentTemplate> out;
  ASSIGN_OR_RETURN(std::string base, BuildBaseLayer(config.cache_dir));
  for (const TemplateConfig& t : config.templates) {
    LayerFiles files;
    for (const auto& [host, guest] : t.files) {
      std::string path = host.starts_with("@") ? binary_dir + "/" + host.substr(1) : host;
      if (!std::filesystem::exists(path)) {
        return absl::NotFoundError(
            fmt::format("template {}: file '{}' (for {}) does not exist", t.name, path, guest));
      }
      files[path] = guest;
    }
    AgentTemplate at;
    if (!files.empty()) {
      ASSIGN_OR_RETURN(std::string layer, BuildFileLayer(config.cache_dir, t.name, files));
      at.spec.layers.push_back(layer);
    }
    at.spec.layers.push_back(base);
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
