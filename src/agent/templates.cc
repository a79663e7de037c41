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

absl::StatusOr<std::vector<std::string>> BuildTemplateLayers(const std::string& cache_dir, const TemplateConfig& t,
                                                             const std::string& binary_dir, ProcessRunner& runner) {
  std::vector<std::string> layers;
  LayerFiles files;
  for (const auto& [host, guest] : t.files) {
    std::string path = host.starts_with("@") ? binary_dir + "/" + host.substr(1) : host;
    if (!std::filesystem::exists(path)) {
      return absl::NotFoundError(fmt::format("template {}: file '{}' (for {}) does not exist", t.name, path, guest));
    }
    files[path] = guest;
  }
  if (!files.empty()) {
    ASSIGN_OR_RETURN(std::string layer, BuildFileLayer(cache_dir, t.name, files));
    layers.push_back(layer);
  }
  if (!t.packages.empty()) {
    std::set<std::string> exclude = DefaultExcludedPackages();
    for (const std::string& e : t.exclude_packages) {
      if (e.starts_with("-")) {
        exclude.erase(e.substr(1));
      } else {
        exclude.insert(e);
      }
    }
    auto pkgs = BuildPackageLayers(runner, cache_dir, t.packages, exclude);
    if (!pkgs.ok()) {
      return absl::Status(pkgs.status().code(), fmt::format("template {}: {}", t.name, pkgs.status().message()));
    }
    layers.insert(layers.end(), pkgs->begin(), pkgs->end());
  }
  ASSIGN_OR_RETURN(std::string base, BuildBaseLayer(cache_dir));
  layers.push_back(base);
  return layers;
}

absl::StatusOr<std::map<std::string, AgentTemplate>> BuildTemplates(const AgentConfig& config,
                                                                    const std::string& binary_dir,
                                                                    ProcessRunner& runner) {
  std::map<std::string, AgentTemplate> out;
  for (const TemplateConfig& t : config.templates) {
    AgentTemplate at;
    ASSIGN_OR_RETURN(at.spec.layers, BuildTemplateLayers(config.cache_dir, t, binary_dir, runner));
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
