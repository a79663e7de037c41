// Test-only: where the real traces are (../shared/data/traces beside the project).
#pragma once

#include <filesystem>
#include <string>

#ifndef PREWARM_TRACES_DIR
#define PREWARM_TRACES_DIR ""
#endif

namespace prewarm::forecast::ingest::traces {

inline std::string TracePath(const std::string& relative) {
  return std::string(PREWARM_TRACES_DIR) + "/" + relative;
}

}  // namespace prewarm::forecast::ingest::traces

// Skips the test when a trace file is not there (a checkout without ../shared).
#define SKIP_IF_ABSENT(path)                       \
  if (!std::filesystem::exists(path)) {            \
    GTEST_SKIP() << "trace not found: " << (path); \
  }
