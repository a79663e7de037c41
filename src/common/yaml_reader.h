// Typed, validating access to YAML config files. Every error names the file, the line and
// the field path ("prewarm.yaml:12: agents[0].capacity.slots: must be at least 1"), and
// unknown fields, duplicate keys and non-finite numbers are errors, so a typo never
// silently falls back to a default.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "yaml-cpp/yaml.h"

namespace prewarm {

class YamlReader {
 public:
  // Parses a document; `source` names it in errors (a file path or "<embedded>"). A key
  // given twice in one mapping is an error naming both lines.
  static absl::StatusOr<YamlReader> FromString(std::string_view text, std::string source);
  // As FromString; a path that is a directory or cannot be read is an error.
  static absl::StatusOr<YamlReader> FromFile(const std::string& path);

  bool Has(std::string_view key) const;
  absl::StatusOr<std::string> String(std::string_view key,
                                     std::optional<std::string> fallback = std::nullopt) const;
  absl::StatusOr<int64_t> Int(std::string_view key, std::optional<int64_t> fallback, int64_t min,
                              int64_t max) const;
  // A finite number in [min, max]: .nan and .inf are errors.
  absl::StatusOr<double> Double(std::string_view key, std::optional<double> fallback, double min,
                                double max) const;
  absl::StatusOr<bool> Bool(std::string_view key, std::optional<bool> fallback) const;
  // One of `choices`; anything else is an error listing them.
  absl::StatusOr<std::string> Choice(std::string_view key, std::optional<std::string> fallback,
                                     std::span<const std::string_view> choices) const;
  // Sizes: a plain number of bytes or a number with K/M/G/KiB/MiB/GiB.
  absl::StatusOr<uint64_t> Bytes(std::string_view key, std::optional<uint64_t> fallback) const;
  absl::StatusOr<std::vector<std::string>> StringList(
      std::string_view key, std::optional<std::vector<std::string>> fallback) const;
  // A mapping of plain values (empty when absent).
  absl::StatusOr<std::map<std::string, std::string>> StringMap(std::string_view key) const;
  // A nested mapping; nullopt when absent.
  absl::StatusOr<std::optional<YamlReader>> Map(std::string_view key) const;
  // A sequence of mappings (empty when absent).
  absl::StatusOr<std::vector<YamlReader>> MapList(std::string_view key) const;
  // This mapping on top of `defaults`: keys missing here are taken from `defaults`.
  YamlReader WithDefaults(const YamlReader& defaults) const;
  // Fails on any key of this mapping not in `known`.
  absl::Status CheckKnown(std::initializer_list<std::string_view> known) const;
  // The keys of this mapping whose values differ in `other` (or are in only one of them),
  // sorted: what a reload would change.
  std::vector<std::string> ChangedKeys(const YamlReader& other) const;

  // An InvalidArgument error about `key` (or this node when empty), with file:line.
  absl::Status Error(std::string_view key, std::string_view message) const;
  const std::string& path() const { return path_; }
  // A relative path given in a file's value, resolved against that file's directory (an
  // include, such as template_dir); a document read from a string leaves it as it is.
  std::string Resolve(const std::string& file) const;

 private:
  YamlReader(YAML::Node node, std::string source, std::string path, std::string base_dir = "")
      : node_(std::move(node)),
        source_(std::move(source)),
        path_(std::move(path)),
        base_dir_(std::move(base_dir)) {}
  std::string FieldPath(std::string_view key) const;
  absl::StatusOr<std::optional<YAML::Node>> Scalar(std::string_view key) const;

  YAML::Node node_;
  std::string source_;
  std::string path_;
  std::string base_dir_;  // the directory of the file read; empty for a string
};

// "64MiB" -> 67108864. Exposed for tests and command-line flags.
absl::StatusOr<uint64_t> ParseBytes(std::string_view text);

}  // namespace prewarm
