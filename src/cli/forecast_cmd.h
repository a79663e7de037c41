// `prewarm forecast`: offline tools of the forecasting library.
//
//   prewarm forecast backtest --spec bench/forecast/series.yaml --series wc98_1h [--json]
//   prewarm forecast backtest --file requests.csv --step 10m [--periods 144,1008]
//   prewarm forecast models
//   prewarm forecast trending --log access_log [--k 5,10,20] [--refresh 10m] [--scratch 64MiB]
//
// The backtest follows the protocol of bench/forecast/README.md (the one the R side,
// tools/r/backtest.R, follows); see forecast/backtest.h.
#pragma once

#include "CLI/CLI.hpp"

namespace prewarm::cli {

// Adds the `forecast` subcommand to `app`. Its subcommands run from their CLI11 callbacks
// and end the parse with their exit code (CLI::Success or CLI::RuntimeError), which
// CLI11_PARSE returns from main.
void AddForecastCommand(CLI::App& app);

}  // namespace prewarm::cli
