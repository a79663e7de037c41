// The version `prewarm --version` prints and every daemon's `prewarm_build_info` carries:
// the CMake project version, and `git describe` of the tree it was built from when that
// was a git checkout with git installed.
#pragma once

namespace prewarm {

// "0.1.0 (git b8699da-dirty)", or "0.1.0" when the build had no git to ask.
extern const char* const kVersion;
// The project version alone: "0.1.0".
extern const char* const kVersionNumber;
// `git describe --always --dirty --tags` ("b8699da-dirty"), or "unknown" without git.
extern const char* const kRevision;

}  // namespace prewarm
