#include "replay/replay.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

#include "fmt/format.h"
#include "nlohmann/json.hpp"
#include "sim/key_rates.h"
#include "workload/http_client.h"

namespace prewarm::replay {
namespace {

using Clock = std::chrono::steady_clock;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

std::map<std::string, double> Percentiles(std::vector<double> v) {
  std::map<std::string, double> out;
  if (v.empty()) return out;
  std::sort(v.begin(), v.end());
  for (auto [name, q] : {std::pair{"p50", 0.5}, {"p90", 0.9}, {"p99", 0.99}, {"p999", 0.999}}) {
    auto rank = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size())));
    out[name] = v[std::max<size_t>(rank, 1) - 1];
  }
  return out;
}

struct MetricsTarget {
  IpAddr addr;
  uint16_t port = 0;
  std::string path;
};

// http://127.x.y.z:PORT/PATH only: the replay never talks to anything off loopback.
absl::StatusOr<MetricsTarget> ParseMetricsUrl(const std::string& url) {
  constexpr std::string_view kScheme = "http://";
  if (url.rfind(kScheme, 0) != 0) {
    return absl::InvalidArgumentError(
        fmt::format("--metrics '{}': want http://HOST:PORT/PATH", url));
  }
  std::string rest = url.substr(kScheme.size());
  size_t slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  auto hp = HostPort::Parse(hostport);
  if (!hp.ok())
    return absl::InvalidArgumentError(
        fmt::format("--metrics '{}': {}", url, hp.status().message()));
  if (!hp->addr.is_loopback()) {
    return absl::InvalidArgumentError(fmt::format("--metrics '{}': not a loopback address", url));
  }
  return MetricsTarget{hp->addr, hp->port,
                       slash == std::string::npos ? "/metrics" : rest.substr(slash)};
}

// A bounded queue of request indices for the workers.
class Queue {
 public:
  void Push(size_t i) {
    {
      std::lock_guard<std::mutex> l(mu_);
      q_.push_back(i);
    }
    cv_.notify_one();
  }
  void Close() {
    {
      std::lock_guard<std::mutex> l(mu_);
      closed_ = true;
    }
    cv_.notify_all();
  }
  bool Pop(size_t& out) {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return closed_ || !q_.empty(); });
    if (q_.empty()) return false;
    out = q_.front();
    q_.pop_front();
    return true;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<size_t> q_;
  bool closed_ = false;
};

class Runner {
 public:
  Runner(const sim::Workload& w, const ReplayOptions& o) : w_(w), o_(o) {}

  absl::Status Prepare() {
    if (!(w_.speed > 0) || !std::isfinite(w_.speed))
      return absl::InvalidArgumentError("--speed must be > 0");
    if (o_.workers < 1 || o_.workers > 4096)
      return absl::InvalidArgumentError("--workers must be 1..4096");
    if (o_.max_requests == 0) return absl::InvalidArgumentError("--max-requests must be > 0");
    if (!(o_.max_seconds > 0)) return absl::InvalidArgumentError("--max-seconds must be > 0");
    const double trace_len_s = static_cast<double>(w_.steps()) * w_.step_ms / 1000 * w_.speed;
    if (!(o_.warmup_s >= 0) || o_.warmup_s >= trace_len_s) {
      return absl::InvalidArgumentError(fmt::format(
          "--warmup {:g} s is not shorter than the trace ({:g} s)", o_.warmup_s, trace_len_s));
    }
    if (!o_.dns.addr.is_loopback()) {
      return absl::InvalidArgumentError(
          fmt::format("--target {}: replay drives loopback addresses only", o_.dns.ToString()));
    }
    if (!o_.metrics_url.empty()) {
      auto m = ParseMetricsUrl(o_.metrics_url);
      if (!m.ok()) return m.status();
      metrics_ = *m;
    }
    std::string zone = o_.zone;
    while (!zone.empty() && zone.back() == '.') zone.pop_back();
    std::vector<std::string> missing;
    for (const sim::KeySpec& k : w_.keys) {
      names_.push_back(fmt::format("{}.{}", k.tmpl, zone));
      auto e = o_.ecs.find(k.region);
      if (e == o_.ecs.end()) {
        if (std::find(missing.begin(), missing.end(), k.region) == missing.end())
          missing.push_back(k.region);
        continue;
      }
      ecs_.push_back(e->second);
      memory_mb_[k.tmpl] = k.memory_mb;
    }
    if (!missing.empty()) {
      return absl::InvalidArgumentError(fmt::format(
          "no --ecs REGION=CIDR for the trace's region(s) {}", fmt::join(missing, ", ")));
    }
    total_ = std::min<uint64_t>(w_.total_arrivals(), o_.max_requests);
    result_.requests.resize(total_);
    return absl::OkStatus();
  }

  ReplayResult Run() {
    start_ = Clock::now();
    std::vector<std::thread> workers;
    workers.reserve(static_cast<size_t>(o_.workers));
    for (int i = 0; i < o_.workers; ++i) workers.emplace_back([this] { Work(); });
    std::thread ticker([this] { Tick(); });
    sim::ArrivalStream arrivals(w_, o_.seed);
    sim::Arrival a;
    uint64_t n = 0;
    while (n < total_ && arrivals.Next(a)) {
      const double wall_s = static_cast<double>(a.t) / 1e6;  // the workload's clock
      const double trace_s = wall_s * w_.speed;
      if (wall_s > o_.max_seconds) {
        result_.stopped_early = true;
        break;
      }
      std::this_thread::sleep_until(Due(trace_s));
      RequestRecord& r = result_.requests[n];  // the queue's mutex hands it to a worker
      r.key = a.key;
      r.trace_s = trace_s;
      queue_.Push(n);
      sent_.fetch_add(1);
      ++n;
    }
    if (n < w_.total_arrivals() && !result_.stopped_early) result_.stopped_early = true;
    queue_.Close();
    for (auto& t : workers) t.join();
    done_flag_.store(true);
    ticker.join();
    result_.requests.resize(n);
    result_.wall_s = Ms(Clock::now() - start_) / 1000;
    return Summarise();
  }

 private:
  void Work() {
    size_t i = 0;
    while (queue_.Pop(i)) {
      Execute(result_.requests[i]);
      done_.fetch_add(1);
    }
  }

  // When the arrival is due on the wall clock.
  Clock::time_point Due(double trace_s) const {
    return start_ + std::chrono::duration_cast<Clock::duration>(
                        std::chrono::duration<double>(trace_s / w_.speed));
  }

  void Execute(RequestRecord& r) {
    const auto t0 = Clock::now();
    r.late_ms = Ms(t0 - Due(r.trace_s));
    auto fail = [&](std::string_view kind, const std::string& why) {
      r.error = fmt::format("{}: {}", kind, why);
      errors_.fetch_add(1);
    };
    auto answer = QueryA(o_.dns, names_[r.key], ecs_[r.key], o_.dns_query);
    const auto t1 = Clock::now();
    r.dns_ms = Ms(t1 - t0);
    if (!answer.ok()) return fail("dns", std::string(answer.status().message()));
    if (answer->rcode != 0) return fail("dns", fmt::format("rcode {}", answer->rcode));
    if (answer->addresses.empty()) return fail("dns", "no A record");
    const IpAddr& addr = answer->addresses.front();
    r.address = addr.ToString();
    if (!addr.is_loopback()) return fail("not loopback", r.address);
    const std::chrono::milliseconds timeout(o_.http_timeout_ms);
    auto conn = workload::HttpConnection::Connect(addr, o_.http_port, timeout);
    const auto t2 = Clock::now();
    r.connect_ms = Ms(t2 - t1);
    if (!conn.ok()) return fail("connect", std::string(conn.status().message()));
    absl::Status sent = conn->Send(fmt::format(
        "GET {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", o_.path, names_[r.key]));
    if (!sent.ok()) return fail("http", std::string(sent.message()));
    absl::Status first = conn->AwaitFirstByte();
    const auto t3 = Clock::now();
    if (!first.ok()) return fail("http", std::string(first.message()));
    r.ttfb_ms = Ms(t3 - t0);
    auto resp = conn->ReadResponse();
    r.total_ms = Ms(Clock::now() - t0);
    if (!resp.ok()) return fail("http", std::string(resp.status().message()));
    r.http_status = resp->status;
    auto q = resp->headers.find("x-prewarm-queued-ms");
    if (q != resp->headers.end()) {
      char* end = nullptr;
      long long v = std::strtoll(q->second.c_str(), &end, 10);
      if (end != q->second.c_str() && v >= 0) r.queued_ms = v;
    }
    r.cold = r.queued_ms > 0;
    if (r.cold) cold_.fetch_add(1);
  }

  // Every 200 ms: a scrape once scrape_s has passed, progress once a second; both once
  // more at the end.
  void Tick() {
    const auto scrape_every = std::chrono::duration<double>(o_.scrape_s);
    Clock::time_point last_scrape{}, last_progress{};
    for (;;) {
      const bool last = done_flag_.load();
      const auto now = Clock::now();
      if (metrics_ && (last || now - last_scrape >= scrape_every)) {
        last_scrape = now;
        Scrape(now);
      }
      if (o_.on_progress && (last || now - last_progress >= std::chrono::seconds(1))) {
        last_progress = now;
        Progress p;
        p.sent = sent_.load();
        p.done = done_.load();
        p.total = total_;
        p.cold = cold_.load();
        p.errors = errors_.load();
        p.wall_s = Ms(now - start_) / 1000;
        p.trace_s = p.wall_s * w_.speed;
        o_.on_progress(p);
      }
      if (last) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }

  // The orchestrator's instance counts; the previous scrape's counts held since it, each
  // instance at its template's memory, add to the trace time's MB·h.
  void Scrape(Clock::time_point now) {
    auto body = workload::HttpGet(metrics_->addr, metrics_->port, metrics_->path,
                                  std::chrono::milliseconds(2000));
    ++result_.scrapes;
    if (!body.ok() || body->status != 200) {
      ++result_.scrape_errors;
      return;
    }
    // The warm-up's end on the wall clock: memory counts from there.
    const Clock::time_point measured_from = Due(o_.warmup_s);
    if (counts_at_ && now > measured_from) {
      const double trace_s = Ms(now - std::max(*counts_at_, measured_from)) / 1000 * w_.speed;
      double mb_s = 0;
      for (const auto& [tmpl, n] : counts_) {
        auto m = memory_mb_.find(tmpl);
        if (m != memory_mb_.end()) mb_s += n * m->second * trace_s;
      }
      result_.loaded_mb_h += mb_s / 3600;
    } else if (!counts_at_) {
      result_.loaded_mb_h = 0;  // measured from here on
    }
    counts_ = InstancesByTemplate(body->body);
    counts_at_ = now;
  }

  ReplayResult Summarise() {
    ReplayResult& r = result_;
    r.keys.assign(w_.keys.size(), sim::KeyStats{});
    std::vector<double> dns, connect, ttfb, total;
    for (const RequestRecord& q : r.requests) {
      if (q.trace_s < o_.warmup_s) {
        ++r.warmup_sent;
        if (!q.error.empty()) ++r.warmup_errors;
        continue;
      }
      ++r.sent;
      if (!q.error.empty()) {
        ++r.errors;
        ++r.error_kinds[q.error.substr(0, q.error.find(':'))];
        continue;
      }
      ++r.answered;
      ++r.keys[q.key].arrivals;
      if (q.cold) {
        ++r.cold;
        ++r.keys[q.key].cold;
      }
      if (q.queued_ms < 0) ++r.unmarked;
      dns.push_back(q.dns_ms);
      connect.push_back(q.connect_ms);
      ttfb.push_back(q.ttfb_ms);
      total.push_back(q.total_ms);
    }
    r.cold_rate = r.answered ? static_cast<double>(r.cold) / static_cast<double>(r.answered) : 0;
    r.cold_rate_p75 = sim::ColdRateP75(r.keys);
    r.dns_ms = Percentiles(std::move(dns));
    r.connect_ms = Percentiles(std::move(connect));
    r.ttfb_ms = Percentiles(std::move(ttfb));
    r.total_ms = Percentiles(std::move(total));
    r.trace_s = r.requests.empty() ? 0 : r.requests.back().trace_s;
    return std::move(r);
  }

  const sim::Workload& w_;
  const ReplayOptions& o_;
  std::vector<std::string> names_;
  std::vector<std::optional<Cidr>> ecs_;
  std::map<std::string, double> memory_mb_;
  std::optional<MetricsTarget> metrics_;
  uint64_t total_ = 0;
  ReplayResult result_;
  Queue queue_;
  std::map<std::string, double> counts_;        // Tick's: the previous good scrape's
  std::optional<Clock::time_point> counts_at_;  // ... and when it was
  Clock::time_point start_;
  std::atomic<uint64_t> sent_{0}, done_{0}, cold_{0}, errors_{0};
  std::atomic<bool> done_flag_{false};
};

}  // namespace

std::map<std::string, double> InstancesByTemplate(const std::string& text) {
  std::map<std::string, double> out;
  constexpr std::string_view kName = "prewarm_template_instances{";
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    std::string_view line(text.data() + pos, eol - pos);
    pos = eol + 1;
    if (line.rfind(kName, 0) != 0) continue;
    auto label = [&](std::string_view key) -> std::string {
      std::string k = std::string(key) + "=\"";
      size_t at = line.find(k);
      if (at == std::string_view::npos) return "";
      size_t from = at + k.size(), to = line.find('"', from);
      return to == std::string_view::npos ? "" : std::string(line.substr(from, to - from));
    };
    std::string tmpl = label("template"), state = label("state");
    size_t close = line.rfind('}');
    if (tmpl.empty() || close == std::string_view::npos) continue;
    if (state != "reserved" && state != "starting" && state != "ready" && state != "draining")
      continue;
    std::string value(line.substr(close + 1));
    char* end = nullptr;
    double v = std::strtod(value.c_str(), &end);
    if (end == value.c_str() || !std::isfinite(v) || v < 0) continue;
    out[tmpl] += v;
  }
  return out;
}

absl::StatusOr<ReplayResult> Replay(const sim::Workload& w, const ReplayOptions& o) {
  Runner runner(w, o);
  RETURN_IF_ERROR(runner.Prepare());
  return runner.Run();
}

std::string ToJson(const sim::Workload& w, const ReplayOptions& o, const ReplayResult& r) {
  using nlohmann::json;
  json j;
  j["workload"] = {{"name", w.name},
                   {"keys", w.keys.size()},
                   {"steps", w.steps()},
                   {"step_s", w.step_ms / 1000.0},
                   {"report", w.report}};
  json ecs = json::object();
  for (const auto& [region, cidr] : o.ecs) ecs[region] = cidr.ToString();
  j["options"] = {{"target", o.dns.ToString()},
                  {"zone", o.zone},
                  {"http_port", o.http_port},
                  {"speed", w.speed},
                  {"seed", o.seed},
                  {"workers", o.workers},
                  {"max_requests", o.max_requests},
                  {"max_seconds", o.max_seconds},
                  {"ecs", ecs},
                  {"metrics", o.metrics_url}};
  j["summary"] = {{"warmup_s", o.warmup_s},
                  {"warmup_sent", r.warmup_sent},
                  {"warmup_errors", r.warmup_errors},
                  {"sent", r.sent},
                  {"answered", r.answered},
                  {"errors", r.errors},
                  {"error_kinds", r.error_kinds},
                  {"cold", r.cold},
                  {"unmarked", r.unmarked},
                  {"cold_rate", r.cold_rate},
                  {"cold_rate_p75", r.cold_rate_p75},
                  {"dns_ms", r.dns_ms},
                  {"connect_ms", r.connect_ms},
                  {"ttfb_ms", r.ttfb_ms},
                  {"total_ms", r.total_ms},
                  {"loaded_mb_h", r.loaded_mb_h < 0 ? json(nullptr) : json(r.loaded_mb_h)},
                  {"scrapes", r.scrapes},
                  {"scrape_errors", r.scrape_errors},
                  {"wall_s", r.wall_s},
                  {"trace_s", r.trace_s},
                  {"stopped_early", r.stopped_early}};
  json keys = json::array();
  for (size_t k = 0; k < r.keys.size(); ++k) {
    keys.push_back({{"service", w.keys[k].tmpl},
                    {"region", w.keys[k].region},
                    {"answered", r.keys[k].arrivals},
                    {"cold", r.keys[k].cold}});
  }
  j["keys"] = keys;
  json reqs = json::array();
  for (const RequestRecord& q : r.requests) {
    json e = {{"key", q.key},
              {"t", q.trace_s},
              {"late_ms", q.late_ms},
              {"dns_ms", q.dns_ms},
              {"connect_ms", q.connect_ms},
              {"ttfb_ms", q.ttfb_ms},
              {"total_ms", q.total_ms},
              {"queued_ms", q.queued_ms},
              {"cold", q.cold},
              {"status", q.http_status},
              {"address", q.address}};
    if (!q.error.empty()) e["error"] = q.error;
    reqs.push_back(std::move(e));
  }
  j["requests"] = reqs;
  return j.dump(1) + "\n";
}

std::string ToSvg(const ReplayResult& r) {
  constexpr double kW = 900, kH = 420, kL = 70, kR = 20, kT = 30, kB = 50;
  double tmax = 1, ymin = 0.1, ymax = 10;
  for (const auto& q : r.requests) {
    tmax = std::max(tmax, q.trace_s);
    if (q.ttfb_ms > 0) ymax = std::max(ymax, q.ttfb_ms);
  }
  const double lmin = std::log10(ymin), lmax = std::ceil(std::log10(ymax));
  auto x = [&](double t) { return kL + (kW - kL - kR) * t / tmax; };
  auto y = [&](double ms) {
    double l = std::log10(std::max(ms, ymin));
    return kH - kB - (kH - kT - kB) * (l - lmin) / (lmax - lmin);
  };
  std::string s = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" "
      "fill=\"white\"/>\n<text x=\"{}\" y=\"18\">time to first byte per request (ms, log) over "
      "trace time; red: waited for a start ({} of {} answered, p99 {:.1f} ms)</text>\n",
      kW, kH, kL, r.cold, r.answered, r.ttfb_ms.contains("p99") ? r.ttfb_ms.at("p99") : 0.0);
  for (int decade = static_cast<int>(lmin); decade <= static_cast<int>(lmax); ++decade) {
    const double ms = std::pow(10, decade), at = y(ms);
    s += fmt::format(
        "<line x1=\"{}\" x2=\"{}\" y1=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#ddd\"/><text x=\"5\" "
        "y=\"{:.1f}\">{:g} ms</text>\n",
        kL, kW - kR, at, at, at + 4, ms);
  }
  s += fmt::format("<text x=\"{}\" y=\"{}\">trace time: 0 .. {:.0f} s</text>\n", kL, kH - 15, tmax);
  for (const auto& q : r.requests) {
    if (q.ttfb_ms <= 0) continue;
    s += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"{}\" fill=\"{}\"/>\n", x(q.trace_s),
                     y(q.ttfb_ms), q.cold ? 2.5 : 1.5, q.cold ? "#d62728" : "#1f77b4");
  }
  return s + "</svg>\n";
}

}  // namespace prewarm::replay
