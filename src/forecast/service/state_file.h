// The forecaster's learned history on disk (`state_dir` in forecaster.yaml), so that a
// restart keeps weeks of series instead of starting from nothing.
//
// One binary file, written whole through a temporary file and a rename (a reader sees the
// old file or the new one), little-endian:
//   "PWFSTATE" | u32 version | i64 step_ms | i64 saved_unix_ms
//   | u32 ranges | ranges x (i64 from_step, i64 to_step)       observed step ranges
//   | u32 tracks | tracks x (u32 len, region | u32 len, template | i64 first_step
//                           | u64 n | n x f32 count, NaN = not seen)
//   | u32 crc32 of everything before it
// A file that fails any check (magic, version, step, lengths, counts, checksum) is an
// error naming the file and what is wrong; nothing of it is used.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"
#include "forecast/service/series_store.h"

namespace prewarm::forecast {

struct SavedState {
  int64_t step_ms = 0;
  int64_t saved_unix_ms = 0;  // the store holds every step before this
  SeriesStore::Image image;
};

// crc32 (zlib's) of `bytes`: the file's last 4 bytes are this of the rest.
uint32_t StateChecksum(std::string_view bytes);
// The file's bytes (exposed for tests and the fuzzer-style checks in them).
std::string EncodeState(const SavedState& state);
// `source` names the file in errors. `step_ms` must match the file's.
absl::StatusOr<SavedState> DecodeState(std::string_view bytes, int64_t step_ms,
                                       std::string_view source);

// NotFound when there is no file; InvalidArgument (or DataLoss) when it cannot be used.
absl::StatusOr<SavedState> LoadState(const std::string& path, int64_t step_ms);

}  // namespace prewarm::forecast
