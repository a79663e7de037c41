#include "forecast/service/state_file.h"

#include <zlib.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "fmt/format.h"
#include "security/ossl.h"

namespace prewarm::forecast {
namespace {

static_assert(std::endian::native == std::endian::little, "the state file is little-endian");

constexpr char kMagic[8] = {'P', 'W', 'F', 'S', 'T', 'A', 'T', 'E'};
constexpr uint32_t kVersion = 1;
constexpr uint32_t kMaxName = 4096;  // bytes in a region or template name

template <typename T>
void Put(std::string& out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  out.append(b, sizeof(T));
}

void PutString(std::string& out, const std::string& s) {
  Put<uint32_t>(out, static_cast<uint32_t>(s.size()));
  out.append(s);
}

}  // namespace

uint32_t StateChecksum(std::string_view bytes) {
  uLong crc = crc32(0L, Z_NULL, 0);
  // zlib takes lengths as uInt: feed it in pieces.
  for (size_t at = 0; at < bytes.size();) {
    uInt n = static_cast<uInt>(std::min<size_t>(bytes.size() - at, 1u << 30));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(bytes.data() + at), n);
    at += n;
  }
  return static_cast<uint32_t>(crc);
}

namespace {

// Reads the file front to back; every read checks what is left first.
class Reader {
 public:
  Reader(std::string_view bytes, std::string_view source) : bytes_(bytes), source_(source) {}

  template <typename T>
  absl::StatusOr<T> Get(std::string_view what) {
    if (bytes_.size() - at_ < sizeof(T)) return Error(fmt::format("truncated in {}", what));
    T v;
    std::memcpy(&v, bytes_.data() + at_, sizeof(T));
    at_ += sizeof(T);
    return v;
  }
  absl::StatusOr<std::string> GetString(std::string_view what) {
    ASSIGN_OR_RETURN(uint32_t n, Get<uint32_t>(what));
    if (n > kMaxName)
      return Error(fmt::format("{} is {} bytes long (at most {})", what, n, kMaxName));
    if (bytes_.size() - at_ < n) return Error(fmt::format("truncated in {}", what));
    std::string s(bytes_.substr(at_, n));
    at_ += n;
    return s;
  }
  // Whether `count` items of `size` bytes can still follow.
  bool Fits(uint64_t count, size_t size) const { return count <= (bytes_.size() - at_) / size; }
  size_t at() const { return at_; }
  absl::Status Error(std::string_view what) const {
    return absl::InvalidArgumentError(
        fmt::format("{}: forecaster state at byte {}: {}", source_, at_, what));
  }

 private:
  std::string_view bytes_;
  std::string_view source_;
  size_t at_ = 0;
};

}  // namespace

std::string EncodeState(const SavedState& state) {
  std::string out(kMagic, sizeof(kMagic));
  Put<uint32_t>(out, kVersion);
  Put<int64_t>(out, state.step_ms);
  Put<int64_t>(out, state.saved_unix_ms);
  Put<uint32_t>(out, static_cast<uint32_t>(state.image.observed.size()));
  for (const auto& [a, b] : state.image.observed) {
    Put<int64_t>(out, a);
    Put<int64_t>(out, b);
  }
  Put<uint32_t>(out, static_cast<uint32_t>(state.image.tracks.size()));
  for (const SeriesStore::Image::Track& t : state.image.tracks) {
    PutString(out, t.key.first);
    PutString(out, t.key.second);
    Put<int64_t>(out, t.first_step);
    Put<uint64_t>(out, t.counts.size());
    out.append(reinterpret_cast<const char*>(t.counts.data()), t.counts.size() * sizeof(float));
  }
  Put<uint32_t>(out, StateChecksum(out));
  return out;
}

absl::StatusOr<SavedState> DecodeState(std::string_view bytes, int64_t step_ms,
                                       std::string_view source) {
  Reader r(bytes, source);
  if (bytes.size() < sizeof(kMagic) || std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) {
    return r.Error("not a prewarm forecaster state file (no PWFSTATE header)");
  }
  if (bytes.size() < sizeof(kMagic) + sizeof(uint32_t) * 2) return r.Error("truncated");
  uint32_t stored_crc;
  std::memcpy(&stored_crc, bytes.data() + bytes.size() - sizeof(uint32_t), sizeof(uint32_t));
  std::string_view body = bytes.substr(0, bytes.size() - sizeof(uint32_t));
  if (StateChecksum(body) != stored_crc) {
    return absl::DataLossError(fmt::format(
        "{}: forecaster state: checksum mismatch (the file is damaged or truncated)", source));
  }
  Reader in(body.substr(sizeof(kMagic)), source);
  SavedState s;
  ASSIGN_OR_RETURN(uint32_t version, in.Get<uint32_t>("the version"));
  if (version != kVersion) {
    return in.Error(fmt::format("version {} (this build reads version {})", version, kVersion));
  }
  ASSIGN_OR_RETURN(s.step_ms, in.Get<int64_t>("the step"));
  if (s.step_ms != step_ms) {
    return in.Error(fmt::format(
        "saved with a step of {} ms, the config's step_s is {} ms; the series cannot be "
        "reused at another step",
        s.step_ms, step_ms));
  }
  ASSIGN_OR_RETURN(s.saved_unix_ms, in.Get<int64_t>("the save time"));
  ASSIGN_OR_RETURN(uint32_t ranges, in.Get<uint32_t>("the range count"));
  if (!in.Fits(ranges, 2 * sizeof(int64_t))) return in.Error("truncated in the observed ranges");
  int64_t prev_end = std::numeric_limits<int64_t>::min();
  for (uint32_t i = 0; i < ranges; ++i) {
    ASSIGN_OR_RETURN(int64_t a, in.Get<int64_t>("a range"));
    ASSIGN_OR_RETURN(int64_t b, in.Get<int64_t>("a range"));
    if (b <= a || a < prev_end) return in.Error("observed ranges are not sorted and disjoint");
    prev_end = b;
    s.image.observed.emplace_back(a, b);
  }
  ASSIGN_OR_RETURN(uint32_t tracks, in.Get<uint32_t>("the series count"));
  for (uint32_t i = 0; i < tracks; ++i) {
    SeriesStore::Image::Track t;
    ASSIGN_OR_RETURN(t.key.first, in.GetString("a region"));
    ASSIGN_OR_RETURN(t.key.second, in.GetString("a template"));
    ASSIGN_OR_RETURN(t.first_step, in.Get<int64_t>("a first step"));
    ASSIGN_OR_RETURN(uint64_t n, in.Get<uint64_t>("a step count"));
    if (!in.Fits(n, sizeof(float))) {
      return in.Error(fmt::format("series {}/{} claims {} steps, more than the file holds",
                                  t.key.first, t.key.second, n));
    }
    t.counts.resize(n);
    for (uint64_t j = 0; j < n; ++j) {
      ASSIGN_OR_RETURN(float v, in.Get<float>("a count"));
      if (std::isinf(v) || v < 0) {
        return in.Error(
            fmt::format("series {}/{}: count {} is not a count", t.key.first, t.key.second, v));
      }
      t.counts[j] = v;
    }
    s.image.tracks.push_back(std::move(t));
  }
  if (in.Fits(1, 1)) return in.Error("bytes after the last series");
  return s;
}

absl::StatusOr<SavedState> LoadState(const std::string& path, int64_t step_ms) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return absl::NotFoundError(fmt::format("{}: no forecaster state yet", path));
  }
  ASSIGN_OR_RETURN(std::string bytes, security::ReadFile(path));
  return DecodeState(bytes, step_ms, path);
}

}  // namespace prewarm::forecast
