// Azure Functions 2019 trace samples (vhive-serverless/invitro layout), one day each:
//   {N}_inv.csv  HashFunction,HashOwner,HashApp,minute_1..minute_1440  invocations/minute
//   {N}_run.csv  HashOwner,HashApp,HashFunction,Average,Count,Minimum,Maximum,
//                percentile_Average_{0,1,25,50,75,99,100}                duration, ms
//   {N}_mem.csv  HashOwner,HashApp,SampleCount,AverageAllocatedMb,
//                AverageAllocatedMb_pct{1,5,25,50,75,95,99,100}          memory per app, MB
// Columns are found by name, so their order does not matter.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "forecast/ingest/report.h"
#include "forecast/series.h"

namespace prewarm::forecast::ingest {

// Which day was sampled is not recorded, so minute_1 of "day 1" is Unix time 0.
inline constexpr int64_t kAzureDayStartMs = 0;

struct AzureFunction {
  std::string function_hash;
  std::string owner_hash;
  std::string app_hash;
  // One-minute steps from kAzureDayStartMs, named after the first 8 characters of
  // function_hash. Every minute is observed: an idle minute is 0, not a gap.
  Series invocations;
  size_t line = 0;  // of the file, 1-based
};

struct AzureInvocations {
  std::vector<AzureFunction> functions;  // in file order
  Series sum;                            // all good rows, minute by minute, named "Sum"
  ReadReport report;
};

absl::StatusOr<AzureInvocations> ReadAzureInvocations(const std::string& path);

inline constexpr std::array<int, 7> kAzureDurationPercentiles = {0, 1, 25, 50, 75, 99, 100};

struct AzureDuration {  // milliseconds
  std::string owner_hash;
  std::string app_hash;
  double average_ms = 0;
  uint64_t count = 0;
  double minimum_ms = 0;
  double maximum_ms = 0;
  std::array<double, kAzureDurationPercentiles.size()> percentile_ms{};  // at the above
};

struct AzureDurations {
  std::map<std::string, AzureDuration> by_function;  // keyed by HashFunction
  ReadReport report;                                 // a repeated function hash is a bad line
};

absl::StatusOr<AzureDurations> ReadAzureDurations(const std::string& path);

inline constexpr std::array<int, 8> kAzureMemoryPercentiles = {1, 5, 25, 50, 75, 95, 99, 100};

struct AzureMemory {  // megabytes
  std::string owner_hash;
  uint64_t sample_count = 0;
  double average_allocated_mb = 0;
  std::array<double, kAzureMemoryPercentiles.size()> percentile_mb{};  // at the above
};

struct AzureMemoryTable {
  std::map<std::string, AzureMemory> by_app;  // keyed by HashApp
  ReadReport report;
};

absl::StatusOr<AzureMemoryTable> ReadAzureMemory(const std::string& path);

}  // namespace prewarm::forecast::ingest
