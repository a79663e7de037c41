// Start here: historical request data into forecast::Series (issue 3, "Inputs").
//
//   ReadCountCsv         timestamp[,region,template],count CSVs; WorldCup98Options(),
//                        ProphetOptions(step) for the traces in ../shared/data/traces
//   ReadAzureInvocations Azure Functions 2019 {N}_inv.csv, plus ReadAzureDurations
//                        ({N}_run.csv) and ReadAzureMemory ({N}_mem.csv) for the simulator
//   ReadAccessLog        Common/Combined Log Format -> requests per step and top paths
//
// Every reader returns absl::StatusOr of its result and a ReadReport: bad lines are counted
// with "file:line: why" and skipped; gaps stay NaN (see series.h).
#pragma once

#include "forecast/ingest/access_log.h"  // IWYU pragma: export
#include "forecast/ingest/azure.h"       // IWYU pragma: export
#include "forecast/ingest/count_csv.h"   // IWYU pragma: export
#include "forecast/ingest/report.h"      // IWYU pragma: export
#include "forecast/ingest/timestamp.h"   // IWYU pragma: export
