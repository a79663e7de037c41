#include "common/yaml_reader.h"

#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "fmt/format.h"

namespace prewarm {
namespace {

int LineOf(const YAML::Node& n) { return n.Mark().line >= 0 ? n.Mark().line + 1 : 0; }

template <typename T>
std::optional<T> Convert(const YAML::Node& n) {
  T value{};
  if (YAML::convert<T>::decode(n, value)) return value;
  return std::nullopt;
}

std::string Join(std::string_view path, std::string_view key) {
  return path.empty() ? std::string(key) : fmt::format("{}.{}", path, key);
}

// yaml-cpp keeps both entries of a key given twice and lookups see only the first, so a
// second `log_level:` would be ignored without a word. Every mapping, at any depth, is
// checked here once.
absl::Status CheckNoDuplicateKeys(const YAML::Node& n, const std::string& source,
                                  const std::string& path) {
  if (n.IsMap()) {
    std::map<std::string, int> first_line;
    for (const auto& kv : n) {
      const std::string key = kv.first.IsScalar() ? kv.first.Scalar() : YAML::Dump(kv.first);
      auto [it, fresh] = first_line.emplace(key, LineOf(kv.first));
      if (!fresh) {
        return absl::InvalidArgumentError(
            fmt::format("{}:{}: {}: duplicate key (first given at line {})", source,
                        LineOf(kv.first), Join(path, key), it->second));
      }
      RETURN_IF_ERROR(CheckNoDuplicateKeys(kv.second, source, Join(path, key)));
    }
  } else if (n.IsSequence()) {
    for (size_t i = 0; i < n.size(); ++i) {
      RETURN_IF_ERROR(CheckNoDuplicateKeys(n[i], source, fmt::format("{}[{}]", path, i)));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<YamlReader> YamlReader::FromString(std::string_view text, std::string source) {
  try {
    YAML::Node root = YAML::Load(std::string(text));
    if (root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
    if (!root.IsMap()) {
      return absl::InvalidArgumentError(fmt::format("{}: the document must be a mapping", source));
    }
    RETURN_IF_ERROR(CheckNoDuplicateKeys(root, source, ""));
    return YamlReader(root, std::move(source), "");
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        fmt::format("{}:{}: YAML syntax error: {}", source, e.mark.line + 1, e.msg));
  }
}

absl::StatusOr<YamlReader> YamlReader::FromFile(const std::string& path) {
  // A directory opens as a stream that reads nothing, which would parse as an empty
  // document: every default, silently.
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return absl::InvalidArgumentError(
        fmt::format("config file '{}' is a directory; give the path of a YAML file", path));
  }
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(fmt::format("cannot read config file '{}'", path));
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return absl::DataLossError(fmt::format("cannot read config file '{}'", path));
  ASSIGN_OR_RETURN(YamlReader r, FromString(ss.str(), path));
  r.base_dir_ = std::filesystem::path(path).parent_path().string();
  if (r.base_dir_.empty()) r.base_dir_ = ".";
  return r;
}

std::string YamlReader::Resolve(const std::string& file) const {
  if (file.empty() || file[0] == '/' || base_dir_.empty()) return file;
  return (std::filesystem::path(base_dir_) / file).lexically_normal().string();
}

std::string YamlReader::FieldPath(std::string_view key) const {
  if (key.empty()) return path_.empty() ? "<root>" : path_;
  return Join(path_, key);
}

absl::Status YamlReader::Error(std::string_view key, std::string_view message) const {
  int line = LineOf(node_);
  if (!key.empty() && node_[std::string(key)]) line = LineOf(node_[std::string(key)]);
  return absl::InvalidArgumentError(
      fmt::format("{}:{}: {}: {}", source_, line, FieldPath(key), message));
}

bool YamlReader::Has(std::string_view key) const {
  return node_[std::string(key)].IsDefined() && !node_[std::string(key)].IsNull();
}

absl::StatusOr<std::optional<YAML::Node>> YamlReader::Scalar(std::string_view key) const {
  YAML::Node n = node_[std::string(key)];
  if (!n.IsDefined() || n.IsNull()) return std::optional<YAML::Node>();
  if (!n.IsScalar()) return Error(key, "expected a single value");
  return std::optional<YAML::Node>(n);
}

absl::StatusOr<std::string> YamlReader::String(std::string_view key,
                                               std::optional<std::string> fallback) const {
  ASSIGN_OR_RETURN(auto n, Scalar(key));
  if (!n) {
    if (fallback) return *fallback;
    return Error(key, "is required");
  }
  return n->Scalar();
}

absl::StatusOr<int64_t> YamlReader::Int(std::string_view key, std::optional<int64_t> fallback,
                                        int64_t min, int64_t max) const {
  ASSIGN_OR_RETURN(auto n, Scalar(key));
  if (!n) {
    if (fallback) return *fallback;
    return Error(key, "is required");
  }
  auto v = Convert<int64_t>(*n);
  if (!v) return Error(key, fmt::format("'{}' is not an integer", n->Scalar()));
  if (*v < min || *v > max) {
    return Error(key, fmt::format("{} is out of range [{}, {}]", *v, min, max));
  }
  return *v;
}

absl::StatusOr<double> YamlReader::Double(std::string_view key, std::optional<double> fallback,
                                          double min, double max) const {
  ASSIGN_OR_RETURN(auto n, Scalar(key));
  if (!n) {
    if (fallback) return *fallback;
    return Error(key, "is required");
  }
  auto v = Convert<double>(*n);
  if (!v || !std::isfinite(*v)) {
    return Error(key, fmt::format("'{}' is not a finite number", n->Scalar()));
  }
  if (*v < min || *v > max) {
    return Error(key, fmt::format("{} is out of range [{}, {}]", *v, min, max));
  }
  return *v;
}

absl::StatusOr<bool> YamlReader::Bool(std::string_view key, std::optional<bool> fallback) const {
  ASSIGN_OR_RETURN(auto n, Scalar(key));
  if (!n) {
    if (fallback) return *fallback;
    return Error(key, "is required");
  }
  auto v = Convert<bool>(*n);
  if (!v) return Error(key, fmt::format("'{}' is not true/false", n->Scalar()));
  return *v;
}

absl::StatusOr<std::string> YamlReader::Choice(std::string_view key,
                                               std::optional<std::string> fallback,
                                               std::span<const std::string_view> choices) const {
  ASSIGN_OR_RETURN(std::string v, String(key, std::move(fallback)));
  for (std::string_view c : choices) {
    if (c == v) return v;
  }
  return Error(key, fmt::format("'{}' is not one of {}", v, fmt::join(choices, ", ")));
}

absl::StatusOr<uint64_t> YamlReader::Bytes(std::string_view key,
                                           std::optional<uint64_t> fallback) const {
  ASSIGN_OR_RETURN(auto n, Scalar(key));
  if (!n) {
    if (fallback) return *fallback;
    return Error(key, "is required");
  }
  auto v = ParseBytes(n->Scalar());
  if (!v.ok()) return Error(key, std::string(v.status().message()));
  return *v;
}

absl::StatusOr<std::vector<std::string>> YamlReader::StringList(
    std::string_view key, std::optional<std::vector<std::string>> fallback) const {
  YAML::Node n = node_[std::string(key)];
  if (!n.IsDefined() || n.IsNull()) {
    if (fallback) return *fallback;
    return Error(key, "is required");
  }
  if (!n.IsSequence()) return Error(key, "expected a list");
  std::vector<std::string> out;
  for (const auto& item : n) {
    if (!item.IsScalar()) return Error(key, "expected a list of plain values");
    out.push_back(item.Scalar());
  }
  return out;
}

absl::StatusOr<std::map<std::string, std::string>> YamlReader::StringMap(
    std::string_view key) const {
  YAML::Node n = node_[std::string(key)];
  std::map<std::string, std::string> out;
  if (!n.IsDefined() || n.IsNull()) return out;
  if (!n.IsMap()) return Error(key, "expected a mapping");
  for (const auto& kv : n) {
    if (!kv.second.IsScalar()) return Error(key, "expected plain values");
    out[kv.first.Scalar()] = kv.second.Scalar();
  }
  return out;
}

absl::StatusOr<std::optional<YamlReader>> YamlReader::Map(std::string_view key) const {
  YAML::Node n = node_[std::string(key)];
  if (!n.IsDefined() || n.IsNull()) return std::optional<YamlReader>();
  if (!n.IsMap()) return Error(key, "expected a mapping");
  return std::optional<YamlReader>(YamlReader(n, source_, FieldPath(key), base_dir_));
}

absl::StatusOr<std::vector<YamlReader>> YamlReader::MapList(std::string_view key) const {
  YAML::Node n = node_[std::string(key)];
  std::vector<YamlReader> out;
  if (!n.IsDefined() || n.IsNull()) return out;
  if (!n.IsSequence()) return Error(key, "expected a list");
  for (size_t i = 0; i < n.size(); ++i) {
    if (!n[i].IsMap()) return Error(key, fmt::format("item {} must be a mapping", i));
    out.push_back(YamlReader(n[i], source_, fmt::format("{}[{}]", FieldPath(key), i), base_dir_));
  }
  return out;
}

YamlReader YamlReader::WithDefaults(const YamlReader& defaults) const {
  YAML::Node merged(YAML::NodeType::Map);
  for (const auto& kv : defaults.node_) merged[kv.first.Scalar()] = kv.second;
  for (const auto& kv : node_) merged[kv.first.Scalar()] = kv.second;
  return YamlReader(merged, source_, path_, base_dir_);
}

absl::Status YamlReader::CheckKnown(std::initializer_list<std::string_view> known) const {
  for (const auto& kv : node_) {
    std::string k = kv.first.Scalar();
    bool ok = false;
    for (std::string_view want : known) ok = ok || want == k;
    if (!ok) {
      return absl::InvalidArgumentError(
          fmt::format("{}:{}: {}: unknown field", source_, LineOf(kv.first), FieldPath(k)));
    }
  }
  return absl::OkStatus();
}

std::vector<std::string> YamlReader::ChangedKeys(const YamlReader& other) const {
  std::set<std::string> keys;
  for (const auto& kv : node_) keys.insert(kv.first.Scalar());
  for (const auto& kv : other.node_) keys.insert(kv.first.Scalar());
  std::vector<std::string> changed;
  for (const std::string& k : keys) {
    YAML::Node a = node_[k], b = other.node_[k];
    if (a.IsDefined() != b.IsDefined() || YAML::Dump(a) != YAML::Dump(b)) changed.push_back(k);
  }
  return changed;
}

absl::StatusOr<uint64_t> ParseBytes(std::string_view text) {
  uint64_t value = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || p == text.data()) {
    return absl::InvalidArgumentError(fmt::format("'{}' is not a size", text));
  }
  std::string_view unit(p, text.data() + text.size() - p);
  while (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
  uint64_t mult = 1;
  if (unit.empty() || unit == "B")
    mult = 1;
  else if (unit == "K" || unit == "KiB" || unit == "k")
    mult = 1ull << 10;
  else if (unit == "M" || unit == "MiB")
    mult = 1ull << 20;
  else if (unit == "G" || unit == "GiB")
    mult = 1ull << 30;
  else if (unit == "KB")
    mult = 1000;
  else if (unit == "MB")
    mult = 1000 * 1000;
  else if (unit == "GB")
    mult = 1000ull * 1000 * 1000;
  else
    return absl::InvalidArgumentError(fmt::format("unknown size unit in '{}'", text));
  if (value > UINT64_MAX / mult) return absl::InvalidArgumentError("size overflows");
  return value * mult;
}

}  // namespace prewarm
