// The version `prewarm --version` prints: the CMake project version, and `git describe`
// of the tree it was built from when that was a git checkout with git installed.
#pragma once

namespace prewarm::cli {

// "0.1.0 (git b8699da-dirty)", or "0.1.0" when the build had no git to ask.
extern const char* const kVersion;

}  // namespace prewarm::cli
