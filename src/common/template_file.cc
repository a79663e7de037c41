#include "common/template_file.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <system_error>

#include "common/status.h"
#include "fmt/format.h"
#include "fmt/ranges.h"

namespace prewarm {

absl::StatusOr<TemplateServing> ParseTemplateServing(const YamlReader& t) {
  TemplateServing s;
  ASSIGN_OR_RETURN(s.tier, t.String("tier", s.tier));
  if (s.tier.empty()) return t.Error("tier", "must not be empty");
  ASSIGN_OR_RETURN(s.service_time_s, t.Double("service_time_s", s.service_time_s, 1e-6, 3600));
  ASSIGN_OR_RETURN(int64_t concurrency, t.Int("concurrency", s.concurrency, 1, 100'000));
  s.concurrency = static_cast<uint32_t>(concurrency);
  ASSIGN_OR_RETURN(int64_t keepalive_s, t.Int("keepalive_s", 0, 0, int64_t{7} * 86400));
  s.keepalive_ms = keepalive_s * 1000;
  ASSIGN_OR_RETURN(s.start_time_s, t.Double("start_time_s", s.start_time_s, 0, 3600));
  return s;
}

absl::StatusOr<std::vector<YamlReader>> ReadTemplateDir(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return absl::InvalidArgumentError(
        fmt::format("template_dir {}: {}", dir, ec ? ec.message() : "is not a directory"));
  }
  std::vector<fs::path> files;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path& p = it->path();
    if ((p.extension() == ".yaml" || p.extension() == ".yml") && it->is_regular_file(ec)) {
      files.push_back(p);
    }
  }
  if (ec) return absl::InvalidArgumentError(fmt::format("template_dir {}: {}", dir, ec.message()));
  if (files.empty()) {
    return absl::InvalidArgumentError(
        fmt::format("template_dir {}: no template file (*.yaml) in it", dir));
  }
  std::sort(files.begin(), files.end());
  std::vector<YamlReader> out;
  std::map<std::string, std::string> seen;  // name -> file
  for (const fs::path& p : files) {
    ASSIGN_OR_RETURN(YamlReader r, YamlReader::FromFile(p.string()));
    ASSIGN_OR_RETURN(std::string name, r.String("name"));
    auto [it, fresh] = seen.emplace(name, p.string());
    if (!fresh) {
      return r.Error("name", fmt::format("template '{}' is also defined in {}", name, it->second));
    }
    out.push_back(std::move(r));
  }
  return out;
}

bool SharedTemplates::Defines(std::string_view name) const {
  return std::any_of(definitions.begin(), definitions.end(),
                     [&](const YamlReader& d) { return *d.String("name", "") == name; });
}

absl::StatusOr<SharedTemplates> ReadSharedTemplates(const YamlReader& config,
                                                    const std::vector<YamlReader>& given) {
  SharedTemplates out;
  std::vector<std::string> origins;
  for (const YamlReader& g : given) {
    ASSIGN_OR_RETURN(std::string name, g.String("name"));
    if (out.Defines(name)) return g.Error("name", fmt::format("template '{}' twice", name));
    out.definitions.push_back(g);
  }
  if (!given.empty()) origins.push_back("the top-level templates");
  ASSIGN_OR_RETURN(std::string dir, config.String("template_dir", ""));
  if (!dir.empty()) {
    dir = config.Resolve(dir);
    ASSIGN_OR_RETURN(std::vector<YamlReader> files, ReadTemplateDir(dir));
    for (YamlReader& f : files) {
      const std::string name = *f.String("name");
      if (out.Defines(name)) {
        return f.Error("name",
                       fmt::format("template '{}' is also defined in {}", name, origins.front()));
      }
      out.definitions.push_back(std::move(f));
    }
    origins.push_back("template_dir " + dir);
  }
  out.origin = fmt::format("{}", fmt::join(origins, " and "));
  return out;
}

}  // namespace prewarm
