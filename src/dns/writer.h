// Builds DNS messages into a caller's buffer: name compression, a hard size limit and
// rollback so a responder can truncate (set TC) instead of overflowing. No allocation.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "common/status.h"
#include "dns/codec.h"

namespace prewarm::dns {

enum class Section : uint8_t { kAnswer = 0, kAuthority = 1, kAdditional = 2 };

class MessageWriter {
 public:
  // Never writes more than `limit` bytes (clamped to out.size()).
  MessageWriter(std::span<uint8_t> out, size_t limit);

  // Keeps `n` bytes at the end free for a later AddOpt (records may not use them).
  void ReserveTail(size_t n) { reserved_ = n; }

  // Each Add* returns false and leaves the message unchanged when it does not fit.
  // Questions come first; records must be added in section order.
  bool AddQuestion(const Question& q);
  bool AddRecord(Section section, const ResourceRecord& rr);
  // Appends the OPT record (uses reserved space). `edns.ecs` is written as option 8.
  bool AddOpt(const Edns& edns);

  // A point to roll back to, e.g. just after the question when truncating.
  struct Mark {
    size_t size;
    size_t compress_count;
    std::array<uint16_t, 4> counts;
  };
  Mark mark() const { return Mark{size_, compress_count_, counts_}; }
  void Rollback(const Mark& m);

  size_t size() const { return size_; }
  // Writes the header (counts taken from what was added) and returns the message size.
  size_t Finish(Header header);

 private:
  bool Fits(size_t n, bool use_reserved) const;
  bool WriteName(const Name& name, bool compress);
  bool WriteRdata(const ResourceRecord& rr);
  bool MatchesAt(size_t offset, std::span<const uint8_t> suffix) const;
  void Put16(uint16_t v);
  void Put32(uint32_t v);
  void PutBytes(std::span<const uint8_t> b);

  std::span<uint8_t> out_;
  size_t limit_;
  size_t reserved_ = 0;
  size_t size_ = kHeaderSize;
  // Counts: questions, answer, authority, additional.
  std::array<uint16_t, 4> counts_{};
  int section_ = -1;
  // Offsets of names (and their suffixes) already written, for compression.
  static constexpr size_t kMaxCompress = 64;
  std::array<uint16_t, kMaxCompress> compress_{};
  size_t compress_count_ = 0;
};

// Wire size of the OPT record that AddOpt would write.
size_t OptSize(const Edns& edns);

// Encodes a whole message (header counts are recomputed). Fails if it exceeds out.size().
absl::StatusOr<size_t> EncodeMessage(const Message& m, std::span<uint8_t> out);

}  // namespace prewarm::dns
