// `prewarm cluster`: tools for a cluster of orchestrator replicas.
//
//   prewarm cluster check-history [--allowance-ms 500] FILE...
//
// check-history merges the history logs of every replica (cluster.history_log) and checks
// that no DNS answer named an instance after its agent reported it ended, and that no
// address was held by two live instances at once (orchestrator/history.h). Exit code 0
// when both hold, 1 with the violations listed, 2 on unreadable input.
#pragma once

#include "CLI/CLI.hpp"

namespace prewarm::cli {

void AddClusterCommand(CLI::App& app);

}  // namespace prewarm::cli
