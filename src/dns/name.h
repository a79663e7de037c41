// Domain names held uncompressed in a fixed 255-byte buffer: no heap allocation, so the
// query path can decode, compare and re-encode names freely.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/status.h"

namespace prewarm::dns {

class Name {
 public:
  // The root name ".".
  Name() { buf_[0] = 0; }

  // "static.edge.example." or "static.edge.example" (always treated as absolute).
  // No escapes: labels are taken literally.
  static absl::StatusOr<Name> FromText(std::string_view text);
  // Validates uncompressed wire bytes (labels, terminating zero, limits).
  static absl::StatusOr<Name> FromWire(std::span<const uint8_t> wire);

  // Uncompressed wire form including the terminating zero byte.
  std::span<const uint8_t> wire() const { return {buf_.data(), size_}; }
  size_t wire_size() const { return size_; }
  int label_count() const { return labels_; }
  bool is_root() const { return size_ == 1; }
  // The first (leftmost) label; empty for the root.
  std::string_view first_label() const;
  // Presentation form with a trailing dot; "." for the root.
  std::string ToText() const;

  // Case-insensitive (ASCII) comparisons, as DNS requires.
  bool EqualsIgnoreCase(const Name& other) const;
  // True if this name equals `zone` or lies below it.
  bool IsSubdomainOf(const Name& zone) const;
  // Exact byte equality (case preserved).
  friend bool operator==(const Name& a, const Name& b);

 private:
  friend class NameReader;
  std::array<uint8_t, 256> buf_{};
  uint8_t size_ = 1;
  uint8_t labels_ = 0;
};

// Decodes a possibly compressed name starting at `offset` inside `msg`. Rejects pointer
// loops, forward pointers, labels > 63, names > 255 bytes and truncation.
struct DecodedName {
  Name name;
  size_t next = 0;  // offset just past the name's bytes at the original position
};
absl::StatusOr<DecodedName> ReadName(std::span<const uint8_t> msg, size_t offset);

inline char AsciiLower(uint8_t c) {
  return static_cast<char>(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
}

}  // namespace prewarm::dns
