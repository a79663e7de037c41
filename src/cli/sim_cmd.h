// `prewarm sim`: the trace-driven simulator (src/sim) from the command line.
//
//   prewarm sim --trace ../shared/data/traces/azure2019/200_inv.csv
//       --policy fixed-keepalive,reactive-kpa,predictive [--json]
//   prewarm sim --trace wc98_requests_per_minute.csv --policy predictive,hybrid-histogram
//       --sweep --plot curves.svg --csv curves.csv
//
// Every run's wasted memory is normalised to a fixed 10-minute keep-alive run of the same
// workload (run as well unless --no-normalise). --sweep runs each policy over its knob
// (sim/factory.h), on --jobs threads, and reads every curve at the hybrid-histogram's
// default wasted memory: the goal line.
#pragma once

#include "CLI/CLI.hpp"

namespace prewarm::cli {

// Adds the `sim` subcommand to `app`. It runs from its CLI11 callback and ends the parse
// with its exit code (CLI::Success, or CLI::RuntimeError: 2 for bad input, 1 otherwise).
void AddSimCommand(CLI::App& app);

}  // namespace prewarm::cli
