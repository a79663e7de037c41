#include "agent/templates.h"

#include <filesystem>

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
    ASSIGN_OR_RETURN(TemplateImage img,
                     BuildTemplateImage(config.cache_dir, t, binary_dir, runner));
    at.spec = TemplateSpecOf(t, std::move(img));
    at.preload = t.preload;
    out.emplace(t.name, std::move(at));
  }
  return out;
}

}  // namespace prewarm::agent
