#include "cli/ctl.h"

#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <iostream>
#include <map>
#include <thread>

#include "common/logging.h"
#include "fmt/chrono.h"
#include "fmt/format.h"
#include "fmt/ranges.h"
#include "prewarm/v1/orchestrator.grpc.pb.h"
#include "prewarm/v1/state_name.h"
#include "security/tls.h"

namespace prewarm::cli {
namespace {

std::string g_target;  // for error messages

int Report(const grpc::Status& st) {
  if (st.ok()) return 0;
  std::cerr << fmt::format("prewarm ctl: {}\n", security::DescribeRpcError(st, g_target));
  return 1;
}

// `-o json`: the whole response, one JSON document on one line. Returns the exit code, 0.
int PrintJson(const google::protobuf::Message& m) {
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  opts.always_print_primitive_fields = true;
  std::string out;
  auto st = google::protobuf::util::MessageToJsonString(m, &out, opts);
  std::cout << (st.ok() ? out : "{}") << "\n";
  return 0;
}

bool Json(const CtlOptions& o) { return o.output == "json"; }

void Deadline(grpc::ClientContext& ctx) {
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
}

int Nodes(v1::OrchestratorService::Stub& stub, const CtlOptions& o) {
  grpc::ClientContext ctx;
  Deadline(ctx);
  v1::ListNodesResponse resp;
  grpc::Status st = stub.ListNodes(&ctx, v1::ListNodesRequest(), &resp);
  if (!st.ok()) return Report(st);
  if (Json(o)) return PrintJson(resp);
  std::cout << fmt::format("{:<12} {:<11} {:>9} {:<8} {:<10} {:<9} {}\n", "NODE", "REGION", "SLOTS",
                           "RUNTIME", "CONNECTED", "DRAINING", "REPLICA");
  for (const auto& n : resp.nodes()) {
    std::cout << fmt::format("{:<12} {:<11} {:>4}/{:<4} {:<8} {:<10} {:<9} {}\n", n.node_id(),
                             n.location().region(), n.slots_used(), n.instance_slots(), n.runtime(),
                             n.connected() ? "yes" : "no", n.draining() ? "yes" : "no",
                             n.replica_id().empty() ? "-" : n.replica_id());
  }
  return 0;
}

int Instances(v1::OrchestratorService::Stub& stub, const CtlOptions& o) {
  grpc::ClientContext ctx;
  Deadline(ctx);
  v1::ListInstancesRequest req;
  req.set_node_id(o.node);
  req.set_template_name(o.tmpl);
  v1::ListInstancesResponse resp;
  grpc::Status st = stub.ListInstances(&ctx, req, &resp);
  if (!st.ok()) return Report(st);
  if (Json(o)) return PrintJson(resp);
  std::cout << fmt::format("{:<24} {:<10} {:<10} {:<18} {}\n", "INSTANCE", "NODE", "STATE",
                           "ADDRESS", "DETAIL");
  for (const auto& i : resp.instances()) {
    std::cout << fmt::format("{:<24} {:<10} {:<10} {:<18} {}\n", i.instance_id(), i.node_id(),
                             v1::StateName(i.state()), fmt::format("{}:{}", i.address(), i.port()),
                             i.detail());
  }
  return 0;
}

int Drain(v1::OrchestratorService::Stub& stub, const CtlOptions& o) {
  grpc::ClientContext ctx;
  Deadline(ctx);
  v1::DrainRequest req;
  req.set_node_id(o.node);
  v1::DrainResponse resp;
  grpc::Status st = stub.Drain(&ctx, req, &resp);
  if (!st.ok()) return Report(st);
  if (Json(o)) return PrintJson(resp);
  std::cout << fmt::format("node {}: draining {} instance(s)\n", o.node, resp.instances_draining());
  return 0;
}

int Undrain(v1::OrchestratorService::Stub& stub, const CtlOptions& o) {
  grpc::ClientContext ctx;
  Deadline(ctx);
  v1::UndrainRequest req;
  req.set_node_id(o.node);
  v1::UndrainResponse resp;
  grpc::Status st = stub.Undrain(&ctx, req, &resp);
  if (!st.ok()) return Report(st);
  if (Json(o)) return PrintJson(resp);
  std::cout << fmt::format(
      "node {}: {}\n", o.node,
      resp.was_draining() ? "undrained, takes new instances again" : "was not drained");
  return 0;
}

int Prefetch(v1::OrchestratorService::Stub& stub, const CtlOptions& o) {
  grpc::ClientContext ctx;
  Deadline(ctx);
  v1::SubmitPrefetchRequest req;
  v1::PrefetchRequest* p = req.add_requests();
  p->set_region(o.region);
  p->set_template_name(o.tmpl);
  p->set_target_concurrency(o.target_concurrency);
  int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  p->set_window_start_unix_ms(now);
  p->set_window_end_unix_ms(now + o.window_s * 1000);
  p->set_quantile(0.9);
  for (const auto& c : o.content) p->add_content_ids(c);
  v1::SubmitPrefetchResponse resp;
  grpc::Status st = stub.SubmitPrefetch(&ctx, req, &resp);
  if (!st.ok()) return Report(st);
  if (Json(o)) return PrintJson(resp);
  std::cout << fmt::format("accepted {} prefetch request(s), {} instance(s) ordered\n",
                           resp.accepted(), resp.instances_ordered());
  return 0;
}

int Prefetches(v1::OrchestratorService::Stub& stub, const CtlOptions& o) {
  grpc::ClientContext ctx;
  Deadline(ctx);
  v1::ListPrefetchResponse resp;
  grpc::Status st = stub.ListPrefetch(&ctx, v1::ListPrefetchRequest(), &resp);
  if (!st.ok()) return Report(st);
  if (Json(o)) return PrintJson(resp);
  std::cout << fmt::format("{:<11} {:<10} {:>6} {:>6} {:>10} {:>10} {:<14} {}\n", "REGION",
                           "TEMPLATE", "TARGET", "Q", "RATE/S", "STARTS_IN", "MODEL", "FROM");
  int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  for (const auto& e : resp.entries()) {
    const auto& r = e.request();
    std::cout << fmt::format("{:<11} {:<10} {:>6} {:>6.3f} {:>10.2f} {:>9.1f}s {:<14} {}\n",
                             r.region(), r.template_name(), r.target_concurrency(), r.quantile(),
                             r.forecast_rate_per_s(), (r.window_start_unix_ms() - now) / 1000.0,
                             r.model(), e.forecaster_id());
  }
  return 0;
}

int Templates(v1::OrchestratorService::Stub& stub, const CtlOptions& o) {
  grpc::ClientContext ctx;
  Deadline(ctx);
  v1::ListTemplatesResponse resp;
  grpc::Status st = stub.ListTemplates(&ctx, v1::ListTemplatesRequest(), &resp);
  if (!st.ok()) return Report(st);
  if (Json(o)) return PrintJson(resp);
  std::cout << fmt::format("{:<12} {:<16} {:<10} {:>9} {:>5} {:>10} {:>11} {:<8} {}\n", "TEMPLATE",
                           "SERVICES", "TIER", "SERVICE_S", "CONC", "KEEPALIVE", "READY/ALL",
                           "RUNTIME", "NODES");
  for (const auto& t : resp.templates()) {
    std::string keepalive =
        t.keepalive_ms() == 0 ? "default" : fmt::format("{:g}s", t.keepalive_ms() / 1000.0);
    std::cout << fmt::format(
        "{:<12} {:<16} {:<10} {:>9.3f} {:>5} {:>10} {:>11} {:<8} {}\n", t.name(),
        t.services().empty() ? "-" : fmt::format("{}", fmt::join(t.services(), ",")), t.tier(),
        t.service_time_s(), t.concurrency(), keepalive,
        fmt::format("{}/{}", t.instances_ready(), t.instances()),
        t.runtimes().empty() ? "-" : fmt::format("{}", fmt::join(t.runtimes(), ",")),
        t.nodes().empty() ? "-" : fmt::format("{}", fmt::join(t.nodes(), ",")));
  }
  return 0;
}

// Seconds from `now` to `t` as "+12s" / "-3s".
std::string Rel(int64_t t, int64_t now) { return fmt::format("{:+.0f}s", (t - now) / 1000.0); }

int Forecasts(v1::OrchestratorService::Stub& stub, const CtlOptions& o) {
  grpc::ClientContext ctx;
  Deadline(ctx);
  v1::ListForecastsRequest req;
  req.set_region(o.region);
  req.set_template_name(o.tmpl);
  v1::ListForecastsResponse resp;
  grpc::Status st = stub.ListForecasts(&ctx, req, &resp);
  if (!st.ok()) return Report(st);
  if (Json(o)) return PrintJson(resp);
  // A row per key: its latest forecast, then its windows that have not ended (times
  // relative to the orchestrator's clock).
  const int64_t now = resp.now_unix_ms();
  std::cout << fmt::format("{:<11} {:<10} {:<14} {:>6} {:>9} {:>9} {:>21} {:>6} {:>9}  {}\n",
                           "REGION", "TEMPLATE", "MODEL", "Q", "RATE/S", "MEDIAN/S", "BAND/S",
                           "TARGET", "RECEIVED", "WINDOWS (start..end target)");
  for (const auto& k : resp.keys()) {
    const auto& r = k.latest().request();
    std::vector<std::string> windows;
    for (const auto& w : k.windows()) {
      windows.push_back(fmt::format("{}..{} {}", Rel(w.request().window_start_unix_ms(), now),
                                    Rel(w.request().window_end_unix_ms(), now),
                                    w.request().target_concurrency()));
    }
    // The forecaster's band: "q0.1-q0.9 1.20..3.40" (none in a request made by hand).
    const bool band = r.band_lower_quantile() > 0;
    std::cout << fmt::format(
        "{:<11} {:<10} {:<14} {:>6.3f} {:>9.2f} {:>9} {:>21} {:>6} {:>9}  {}\n", k.region(),
        k.template_name(), r.model().empty() ? "-" : r.model(), r.quantile(),
        r.forecast_rate_per_s(), band ? fmt::format("{:.2f}", r.median_rate_per_s()) : "-",
        band ? fmt::format("q{:g}-q{:g} {:.2f}..{:.2f}", r.band_lower_quantile(),
                           r.band_upper_quantile(), r.band_lower_rate_per_s(),
                           r.band_upper_rate_per_s())
             : "-",
        r.target_concurrency(), Rel(k.latest().received_unix_ms(), now),
        windows.empty() ? "none open" : fmt::format("{}", fmt::join(windows, ", ")));
  }
  return 0;
}

// The output goes to stdout as it is; what the agent could not keep, to stderr.
int Logs(v1::OrchestratorService::Stub& stub, const CtlOptions& o) {
  grpc::ClientContext ctx;
  Deadline(ctx);
  v1::GetLogsRequest req;
  req.set_instance_id(o.instance);
  req.set_node_id(o.node);
  req.set_tail_lines(o.tail_lines);
  v1::GetLogsResponse resp;
  grpc::Status st = stub.GetLogs(&ctx, req, &resp);
  if (!st.ok()) return Report(st);
  if (Json(o)) return PrintJson(resp);
  if (resp.dropped_bytes() > 0 && o.tail_lines == 0) {
    std::cerr << fmt::format(
        "prewarm ctl logs: {} earlier bytes were dropped (over the agent's cap)\n",
        resp.dropped_bytes());
  }
  std::cout << resp.output();
  if (!resp.output().empty() && resp.output().back() != '\n') std::cout << "\n";
  if (resp.ended()) {
    std::cerr << fmt::format("prewarm ctl logs: instance {} on {} has ended\n", o.instance,
                             resp.node_id());
  }
  return 0;
}

std::atomic<bool> g_interrupted{false};

extern "C" void OnInterrupt(int) { g_interrupted.store(true); }

using Listing = int (*)(v1::OrchestratorService::Stub&, const CtlOptions&);

// Redraws `list` every interval; Ctrl-C (SIGINT) or SIGTERM ends it after the listing
// being drawn.
int Watch(v1::OrchestratorService::Stub& stub, const CtlOptions& o, Listing list) {
  struct sigaction sa {};
  sa.sa_handler = OnInterrupt;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  const bool tty = !Json(o) && isatty(STDOUT_FILENO) != 0;
  const auto interval = std::chrono::milliseconds(static_cast<int64_t>(o.interval_s * 1000));
  int rc = 0;
  for (int64_t n = 0; (o.count == 0 || n < o.count) && !g_interrupted.load(); ++n) {
    const auto started = std::chrono::steady_clock::now();
    if (!Json(o)) {
      // Like watch(1): the command, the interval and the time, then the listing.
      std::cout << (tty ? "\x1b[H\x1b[2J" : (n > 0 ? "\n" : ""))
                << fmt::format(
                       "every {:g}s: prewarm ctl --orchestrator {} {}    {:%Y-%m-%dT%H:%M:%SZ}\n\n",
                       o.interval_s, o.target, o.watch,
                       std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()));
    }
    rc = list(stub, o);
    std::cout.flush();
    if (o.count != 0 && n + 1 >= o.count) break;
    while (!g_interrupted.load() && std::chrono::steady_clock::now() - started < interval) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  return rc;
}

// The listings `watch` redraws, by name.
const std::map<std::string, Listing> kWatchable = {
    {"instances", Instances}, {"nodes", Nodes},         {"prefetches", Prefetches},
    {"templates", Templates}, {"forecasts", Forecasts},
};

}  // namespace

int RunCtl(CtlOptions o) {
  // A client's stderr is for what went wrong: not the daemons' info lines (which
  // certificate it presents) on every command, which scripts would have to filter.
  spdlog::set_level(std::max(spdlog::get_level(), spdlog::level::warn));
  g_target = o.target;
  if (o.output != "table" && o.output != "json") {
    std::cerr << fmt::format("prewarm ctl: -o {}: expected table or json\n", o.output);
    return 2;
  }
  if (!o.certs_dir.empty() && !o.tls.enabled()) {
    o.tls = {o.certs_dir + "/ca.crt", o.certs_dir + "/operator.crt", o.certs_dir + "/operator.key"};
  }
  absl::Status files = o.tls.enabled() ? security::CheckTlsFiles(o.tls) : absl::OkStatus();
  auto creds = files.ok() ? security::ChannelCredentials(o.tls, o.target)
                          : absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>>(files);
  if (!creds.ok()) {
    std::cerr << fmt::format("prewarm ctl: {}\n", creds.status().message());
    return 2;
  }
  if (o.command == "watch") {
    if (!kWatchable.contains(o.watch)) {
      std::cerr << fmt::format(
          "prewarm ctl watch: {}: expected instances, nodes, prefetches, templates or "
          "forecasts\n",
          o.watch);
      return 2;
    }
    if (!(o.interval_s >= 0.2 && o.interval_s <= 3600) || o.count < 0) {
      std::cerr << "prewarm ctl watch: --interval must be 0.2-3600 s and --count >= 0\n";
      return 2;
    }
  }
  auto channel = grpc::CreateChannel(o.target, *creds);
  auto stub = v1::OrchestratorService::NewStub(channel);
  if (o.command == "nodes") return Nodes(*stub, o);
  if (o.command == "instances") return Instances(*stub, o);
  if (o.command == "drain") return Drain(*stub, o);
  if (o.command == "undrain") return Undrain(*stub, o);
  if (o.command == "prefetch") return Prefetch(*stub, o);
  if (o.command == "prefetches") return Prefetches(*stub, o);
  if (o.command == "templates") return Templates(*stub, o);
  if (o.command == "forecasts") return Forecasts(*stub, o);
  if (o.command == "logs") return Logs(*stub, o);
  if (o.command == "watch") return Watch(*stub, o, kWatchable.at(o.watch));
  std::cerr << "prewarm ctl: unknown command '" << o.command << "'\n";
  return 2;
}

}  // namespace prewarm::cli
