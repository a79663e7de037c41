// Strict timestamp parsing to Unix milliseconds (UTC). No regex, no locale, no allocation
// on success: these run once per input line.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace prewarm::forecast::ingest {

enum class TimeFormat {
  kAuto,         // ISO if it looks like "YYYY-", else a Unix number (see ParseUnixNumber)
  kIso,          // "YYYY-MM-DD", "YYYY-MM-DD[ T]HH:MM[:SS[.fff]][Z|±HH:MM|±HHMM]"
  kUnixSeconds,  // "1700000000" or "1700000000.250"
  kUnixMillis,   // "1700000000250"
};

// Parses `text` (already trimmed) as `format`. ISO without a zone is UTC; a date alone is
// midnight UTC. Rejects impossible dates ("2021-13-40", "2021-02-29", "24:00").
absl::StatusOr<int64_t> ParseTimestampMs(std::string_view text,
                                         TimeFormat format = TimeFormat::kAuto);

// A Unix number whose unit is guessed from its size: |integer part| >= 1e11 is
// milliseconds (1e11 ms is March 1973; 1e11 s is the year 5138), otherwise seconds.
absl::StatusOr<int64_t> ParseUnixNumberMs(std::string_view text);

// Common Log Format time, the text between the brackets: "10/Oct/2000:13:55:36 -0700".
// The zone offset is applied, so the result is UTC.
absl::StatusOr<int64_t> ParseClfTimestampMs(std::string_view text);

// Unix ms of a UTC civil time; nullopt unless every field is in range for that date.
std::optional<int64_t> CivilToUnixMs(int year, int month, int day, int hour, int minute,
                                     int second);

// "1998-04-30T21:30:00Z" (milliseconds appended when non-zero): for messages and tests.
std::string FormatIsoUtc(int64_t unix_ms);

}  // namespace prewarm::forecast::ingest
