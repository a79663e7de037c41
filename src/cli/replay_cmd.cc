#include "cli/replay_cmd.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <set>

#include "autoscale/settings.h"
#include "cli/trace_flags.h"
#include "common/status.h"
#include "fmt/format.h"
#include "replay/replay.h"

namespace prewarm::cli {
namespace {

struct ReplayFlags : TraceFlags {
  std::string warmup = "0";
  std::string target, zone = "edge.example.", path = "/", metrics, json, svg, tmpl = "static";
  uint16_t port = 8080;
  double max_seconds = 3600, scrape_s = 1;
  uint64_t max_requests = 100'000;
  int workers = 64;
  std::vector<std::string> ecs;
  bool print_services = false, quiet = false;
};

absl::Status WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  if (!out) return absl::InternalError(fmt::format("cannot write '{}'", path));
  return absl::OkStatus();
}

std::string ErrorKinds(const std::map<std::string, uint64_t>& kinds) {
  std::string out;
  for (const auto& [kind, n] : kinds)
    out += fmt::format("{}{}: {}", out.empty() ? " (" : ", ", kind, n);
  return out.empty() ? out : out + ")";
}

absl::Status Run(const ReplayFlags& f) {
  ASSIGN_OR_RETURN(sim::Workload w, LoadTrace(f));
  if (f.print_services) {
    // Each service as the simulator models its key: concurrency per instance and, under
    // --speed, the live workload's service time.
    std::set<std::string> seen;
    std::cout << "services:\n";
    for (const auto& k : w.keys) {
      if (seen.insert(k.tmpl).second) {
        std::cout << fmt::format(
            "  - {{name: {}, template: {}, concurrency: {}, service_time_s: {:g}}}\n", k.tmpl,
            f.tmpl, k.concurrency, std::max(1e-6, k.service.mean_s));
      }
    }
    return absl::OkStatus();
  }
  if (f.target.empty()) return absl::InvalidArgumentError("give --target ADDR:PORT (the DNS)");
  replay::ReplayOptions o;
  ASSIGN_OR_RETURN(o.dns, HostPort::Parse(f.target));
  o.zone = f.zone;
  o.http_port = f.port;
  o.path = f.path;
  o.max_requests = f.max_requests;
  o.max_seconds = f.max_seconds;
  o.workers = f.workers;
  o.seed = f.seed;
  o.metrics_url = f.metrics;
  o.scrape_s = f.scrape_s;
  ASSIGN_OR_RETURN(int64_t warmup_ms, orchestrator::ParseDurationMs(f.warmup));
  o.warmup_s = static_cast<double>(warmup_ms) / 1000;
  for (const std::string& e : f.ecs) {
    size_t eq = e.find('=');
    if (eq == std::string::npos) {
      return absl::InvalidArgumentError(fmt::format("--ecs '{}': want REGION=CIDR", e));
    }
    auto cidr = Cidr::Parse(e.substr(eq + 1));
    if (!cidr.ok())
      return absl::InvalidArgumentError(fmt::format("--ecs '{}': {}", e, cidr.status().message()));
    o.ecs[e.substr(0, eq)] = *cidr;
  }
  const bool tty = ::isatty(STDERR_FILENO) != 0;
  if (!f.quiet) {
    o.on_progress = [tty](const replay::Progress& p) {
      std::string line = fmt::format(
          "replay: {}/{} requests sent, {} done, {} cold, {} errors; {:.0f} s wall = {:.0f} s of "
          "trace",
          p.sent, p.total, p.done, p.cold, p.errors, p.wall_s, p.trace_s);
      std::cerr << (tty ? "\r" + line + "\033[K" : line + "\n") << std::flush;
    };
  }
  std::cerr << fmt::format("replay: {} keys, {} arrivals over {} steps ({}), at {}x against {}\n",
                           w.keys.size(), w.total_arrivals(), w.steps(), w.report, f.speed,
                           f.target);
  ASSIGN_OR_RETURN(replay::ReplayResult r, replay::Replay(w, o));
  if (!f.quiet && tty) std::cerr << "\n";
  auto pct = [](const std::map<std::string, double>& m) {
    auto get = [&](const char* k) { return m.contains(k) ? m.at(k) : 0.0; };
    return fmt::format("p50 {:.2f}  p90 {:.2f}  p99 {:.2f}  p99.9 {:.2f}", get("p50"), get("p90"),
                       get("p99"), get("p999"));
  };
  std::cout << fmt::format(
      "{}"
      "requests        {} sent, {} answered, {} errors{}\n"
      "cold            {} ({:.3f} %), p75 across keys {:.2f} %{}\n"
      "dns ms          {}\nconnect ms      {}\nttfb ms         {}\ntotal ms        {}\n"
      "instance memory {}\n"
      "time            {:.1f} s wall, {:.0f} s of trace{}\n",
      o.warmup_s > 0 ? fmt::format("warm-up         {:g} s of trace: {} requests sent, {} errors "
                                   "(not measured)\n",
                                   o.warmup_s, r.warmup_sent, r.warmup_errors)
                     : "",
      r.sent, r.answered, r.errors, ErrorKinds(r.error_kinds), r.cold, 100 * r.cold_rate,
      100 * r.cold_rate_p75,
      r.unmarked
          ? fmt::format("; {} responses had no X-Prewarm-Queued-Ms (counted warm)", r.unmarked)
          : "",
      pct(r.dns_ms), pct(r.connect_ms), pct(r.ttfb_ms), pct(r.total_ms),
      r.loaded_mb_h < 0 ? std::string("not measured (give --metrics)")
                        : fmt::format("{:.1f} MB·h of trace time ({} scrapes, {} failed)",
                                      r.loaded_mb_h, r.scrapes, r.scrape_errors),
      r.wall_s, r.trace_s, r.stopped_early ? "; stopped early (--max-requests/--max-seconds)" : "");
  if (!f.json.empty()) RETURN_IF_ERROR(WriteFile(f.json, replay::ToJson(w, o, r)));
  if (!f.svg.empty()) RETURN_IF_ERROR(WriteFile(f.svg, replay::ToSvg(r)));
  return absl::OkStatus();
}

[[noreturn]] void Exit(const absl::Status& status) {
  if (status.ok()) throw CLI::Success();
  std::cerr << fmt::format("prewarm replay: {}\n", status.message());
  throw CLI::RuntimeError(status.code() == absl::StatusCode::kInvalidArgument ||
                                  status.code() == absl::StatusCode::kNotFound
                              ? 2
                              : 1);
}

}  // namespace

void AddReplayCommand(CLI::App& app) {
  auto f = std::make_shared<ReplayFlags>();
  f->speed = 60;  // the replay's default pace; `prewarm sim`'s is the trace's own
  CLI::App* s = app.add_subcommand(
      "replay", "replay a trace against a running prewarm: DNS + HTTP per arrival, as clients");
  AddTraceFlags(s, *f, "nothing else");
  s->add_option("--target", f->target, "the orchestrator's DNS, ADDR:PORT (loopback)");
  s->add_option("--zone", f->zone, "the zone; a key's service is <template>.<zone>")
      ->capture_default_str();
  s->add_option("--port", f->port, "the instances' HTTP port (the agents' addresses.port)")
      ->capture_default_str();
  s->add_option("--path", f->path, "the path each GET asks for")->capture_default_str();
  s->add_option("--ecs", f->ecs,
                "REGION=CIDR: the client subnet of a region's queries; repeatable");
  s->add_option("--max-requests", f->max_requests, "stop after this many requests")
      ->capture_default_str();
  s->add_option("--warmup", f->warmup,
                "trace time from the start replayed but not measured (e.g. 30m): its requests "
                "are sent, counted apart, and memory is integrated from its end")
      ->capture_default_str();
  s->add_option("--max-seconds", f->max_seconds, "stop after this much wall time")
      ->capture_default_str();
  s->add_option("--workers", f->workers, "requests in flight at most")->capture_default_str();
  s->add_option("--metrics", f->metrics,
                "the orchestrator's http://ADDR:PORT/metrics: instance memory over the run");
  s->add_option("--scrape-s", f->scrape_s, "seconds between --metrics scrapes")
      ->capture_default_str();
  s->add_option("--json", f->json, "write the run (summary, per key, per request) here");
  s->add_option("--svg", f->svg, "write time to first byte per request as SVG here");
  s->add_flag("--print-services", f->print_services,
              "print the config's services: lines for the trace's keys and exit");
  s->add_option("--template", f->tmpl, "--print-services: the template every service runs")
      ->capture_default_str();
  s->add_flag("--quiet", f->quiet, "no progress on stderr");
  s->callback([f] { Exit(Run(*f)); });
}

}  // namespace prewarm::cli
