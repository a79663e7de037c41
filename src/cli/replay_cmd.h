// `prewarm replay`: a real trace against a running prewarm, as its clients see it
// (src/replay/replay.h).
//
//   prewarm replay --trace ../shared/data/traces/azure2019/200_inv.csv --from-step 600
//       --steps 360 --busiest 50 --sparse 50 --speed 60 --target 127.0.0.1:5353
//       --ecs us-west=192.0.2.0/24 --ecs us-east=198.51.100.0/24 ...
//       --metrics http://127.0.0.1:9400/metrics --json out.json --svg out.svg
//   prewarm replay --trace ... --print-services   # the services: lines the config needs
#pragma once

#include "CLI/CLI.hpp"

namespace prewarm::cli {

// Adds the `replay` subcommand; it runs from its callback (exit 0, 2 for bad input, 1 when
// the run failed).
void AddReplayCommand(CLI::App& app);

}  // namespace prewarm::cli
