#include "dns/name.h"

#include <algorithm>
#include <cstring>

#include "dns/wire.h"
#include "fmt/format.h"

namespace prewarm::dns {

// Appends labels to a Name while enforcing the RFC 1035 limits.
class NameReader {
 public:
  explicit NameReader(Name& n) : n_(n) { n_.size_ = 0; }
  absl::Status AddLabel(const uint8_t* data, size_t len) {
    if (len == 0 || len > kMaxLabelSize) {
      return absl::InvalidArgumentError(fmt::format("bad label length {}", len));
    }
    // The label, its length byte and the final root byte must fit in 255.
    if (n_.size_ + 1 + len + 1 > kMaxNameSize) {
      return absl::InvalidArgumentError("name longer than 255 bytes");
    }
    n_.buf_[n_.size_] = static_cast<uint8_t>(len);
    std::memcpy(&n_.buf_[n_.size_ + 1], data, len);
    n_.size_ = static_cast<uint8_t>(n_.size_ + 1 + len);
    ++n_.labels_;
    return absl::OkStatus();
  }
  void Finish() { n_.buf_[n_.size_++] = 0; }

 private:
  Name& n_;
};

absl::StatusOr<Name> Name::FromText(std::string_view text) {
  Name n;
  if (text == "." || text.empty()) {
    return n;
  }
  if (text.back() == '.') {
    text.remove_suffix(1);
  }
  NameReader r(n);
  while (true) {
    size_t dot = text.find('.');
    std::string_view label = text.substr(0, dot);
    RETURN_IF_ERROR(r.AddLabel(reinterpret_cast<const uint8_t*>(label.data()), label.size()));
    if (dot == std::string_view::npos) {
      break;
    }
    text.remove_prefix(dot + 1);
  }
  r.Finish();
  return n;
}

absl::StatusOr<Name> Name::FromWire(std::span<const uint8_t> wire) {
  ASSIGN_OR_RETURN(DecodedName d, ReadName(wire, 0));
  if (d.next != wire.size() || d.name.size_ != wire.size()) {
    return absl::InvalidArgumentError("not a single uncompressed name");
  }
  return d.name;
}

std::string_view Name::first_label() const {
  return {reinterpret_cast<const char*>(&buf_[1]), buf_[0]};
}

std::string Name::ToText() const {
  if (is_root()) {
    return ".";
  }
  std::string out;
  for (size_t i = 0; buf_[i] != 0; i += buf_[i] + 1) {
    out.append(reinterpret_cast<const char*>(&buf_[i + 1]), buf_[i]);
    out.push_back('.');
  }
  return out;
}

bool Name::EqualsIgnoreCase(const Name& other) const {
  if (size_ != other.size_) {
    return false;
  }
  // Length bytes are <= 63 so lowering them is harmless.
  for (size_t i = 0; i < size_; ++i) {
    if (AsciiLower(buf_[i]) != AsciiLower(other.buf_[i])) {
      return false;
    }
  }
  return true;
}

bool Name::IsSubdomainOf(const Name& zone) const {
  if (zone.size_ > size_) {
    return false;
  }
  // Walk labels until the remaining suffix has the zone's length, then compare.
  size_t i = 0;
  while (size_ - i > zone.size_) {
    i += buf_[i] + 1;
  }
  if (size_ - i != zone.size_) {
    return false;
  }
  for (size_t k = 0; k < zone.size_; ++k) {
    if (AsciiLower(buf_[i + k]) != AsciiLower(zone.buf_[k])) {
      return false;
    }
  }
  return true;
}

bool operator==(const Name& a, const Name& b) {
  return a.size_ == b.size_ && std::equal(a.buf_.begin(), a.buf_.begin() + a.size_, b.buf_.begin());
}

absl::StatusOr<DecodedName> ReadName(std::span<const uint8_t> msg, size_t offset) {
  DecodedName out;
  NameReader r(out.name);
  size_t pos = offset;
  std::optional<size_t> next;
  // Pointers must point strictly backwards, which also rules out loops.
  size_t limit = offset;
  while (true) {
    if (pos >= msg.size()) {
      return absl::InvalidArgumentError("name truncated");
    }
    uint8_t len = msg[pos];
    if ((len & 0xC0) == 0xC0) {
      if (pos + 1 >= msg.size()) {
        return absl::InvalidArgumentError("compression pointer truncated");
      }
      size_t target = Load16(&msg[pos]) & 0x3FFF;
      if (target >= limit) {
        return absl::InvalidArgumentError("forward or looping compression pointer");
      }
      if (!next) {
        next = pos + 2;
      }
      limit = target;
      pos = target;
      continue;
    }
    if ((len & 0xC0) != 0) {
      return absl::InvalidArgumentError("reserved label type");
    }
    if (len == 0) {
      break;
    }
    if (pos + 1 + len > msg.size()) {
      return absl::InvalidArgumentError("label truncated");
    }
    RETURN_IF_ERROR(r.AddLabel(&msg[pos + 1], len));
    pos += 1 + len;
  }
  r.Finish();
  out.next = next ? *next : pos + 1;
  return out;
}

}  // namespace prewarm::dns
