#include "cli/cluster_cmd.h"

#include <iostream>
#include <memory>

#include "fmt/format.h"
#include "orchestrator/history.h"

namespace prewarm::cli {
namespace {

struct CheckOptions {
  std::vector<std::string> files;
  int64_t allowance_ms = 500;
};

int CheckHistory(const CheckOptions& o) {
  auto check = orchestrator::CheckHistory(o.files, o.allowance_ms);
  if (!check.ok()) {
    std::cerr << fmt::format("prewarm cluster check-history: {}\n", check.status().message());
    return 2;
  }
  std::cout << fmt::format(
      "history: {} answers, {} reports, {} instances; {} answers within {} ms of their "
      "instance's end; {} violations\n",
      check->answers, check->reports, check->instances, check->answers_within_allowance,
      o.allowance_ms, check->violation_count);
  for (const auto& v : check->violations) std::cout << "violation: " << v << "\n";
  return check->violation_count == 0 ? 0 : 1;
}

}  // namespace

void AddClusterCommand(CLI::App& app) {
  auto* cluster = app.add_subcommand("cluster", "tools for a cluster of orchestrator replicas");
  cluster->require_subcommand(1);
  auto opts = std::make_shared<CheckOptions>();
  auto* check = cluster->add_subcommand(
      "check-history",
      "check the replicas' history logs: no answer after its instance ended, "
      "no address held twice");
  check->add_option("files", opts->files, "history logs (cluster.history_log) of every replica")
      ->required();
  check
      ->add_option("--allowance-ms", opts->allowance_ms,
                   "how long the news of an instance's end may take to reach a replica")
      ->capture_default_str();
  check->callback([opts] { std::exit(CheckHistory(*opts)); });
}

}  // namespace prewarm::cli
