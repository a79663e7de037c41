// `prewarm completion bash|zsh`: a shell completion script generated from the command tree
// itself, so it never falls behind the flags.
#pragma once

#include <string>

#include "CLI/CLI.hpp"

namespace prewarm::cli {

// The script for `shell` ("bash" or "zsh"; zsh loads it through bashcompinit). Completes
// subcommands at every level and, after a `-`, the options of the innermost subcommand
// (with its parent's when it falls through to it, as `ctl` does).
std::string CompletionScript(const CLI::App& root, const std::string& shell);

// Registers `completion` on `app`. Register it last: the script covers what exists when
// the command runs.
void AddCompletionCommand(CLI::App& app);

}  // namespace prewarm::cli
