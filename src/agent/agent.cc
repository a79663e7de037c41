#include "agent/agent.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "common/logging.h"
#include "common/metrics.h"
#include "common/version.h"
#include "fmt/format.h"
#include "fmt/ranges.h"
#include "prewarm/v1/state_name.h"
#include "workload/content_report.h"

namespace prewarm::agent {
namespace {

constexpr int kProbeTimeoutMs = 1000;
constexpr int kProbeFailuresBeforeUnhealthy = 2;
constexpr auto kLoopTick = std::chrono::milliseconds(100);
constexpr int kMaxStandbyBindFailures = 16;  // per refill (see RefillStandby)
constexpr size_t kMaxUndelivered = 1024;     // final states kept while no orchestrator hears them
constexpr int kReportBatchMs = 100;          // "agent-reports" posts at most this often
constexpr int kMaxReportsPerRead = 256;      // datagrams read from one socket per wakeup
constexpr size_t kMaxBatchKeys = 20000;      // (instance, id) pairs in one ReportBatch

double LoadAverage() {
  std::ifstream in("/proc/loadavg");
  double one = 0;
  in >> one;
  return one;
}

// Instance ids name directories and containers: the runtimes' own rule.
bool ValidInstanceId(const std::string& id) {
  return !id.empty() && id.size() <= 64 &&
         id.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") ==
             std::string::npos;
}

std::string JoinIds(const std::vector<std::string>& ids) {
  return fmt::format("{}", fmt::join(ids, ", "));
}

}  // namespace

Agent::Agent(AgentConfig config, std::map<std::string, AgentTemplate> templates, Runtime& runtime,
             Origin& origin, Prober& prober, const Clock& clock)
    : config_(std::move(config)),
      templates_(std::move(templates)),
      runtime_(runtime),
      origin_(origin),
      prober_(prober),
      clock_(clock) {}

Agent::~Agent() { Stop(); }

absl::Status Agent::Start() {
  // The orchestrator link's certificate, key and CA: a bad file is an error now, not a
  // failed handshake later.
  RETURN_IF_ERROR(security::CheckTlsFiles(config_.tls));
  RETURN_IF_ERROR(runtime_.CleanupStale());
  epoll_fd_.reset(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_fd_.valid()) return ErrnoStatus(errno, "epoll_create1");
  RefillStandby();
  if (standby_.empty()) {
    return absl::UnavailableError(
        fmt::format("node {}: could not bind any address of {} on port {}", config_.node_id,
                    config_.address_range.ToString(), config_.port));
  }
  Publish();
  loop_ = std::thread([this] { Loop(); });
  health_ = std::thread([this] { HealthLoop(); });
  reports_ = std::thread([this] { ReportLoop(); });
  fetcher_ = std::thread([this] { FetchLoop(); });
  spdlog::info("agent {}: region {}, {} slots, runtime {}, addresses {} port {}", config_.node_id,
               config_.region, config_.slots, runtime_.name(), config_.address_range.ToString(),
               config_.port);
  return absl::OkStatus();
}

void Agent::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stopping_) return;
    stopping_ = true;
    cv_.notify_all();
  }
  if (loop_.joinable()) loop_.join();
  if (health_.joinable()) health_.join();
  if (reports_.joinable()) reports_.join();
  {
    std::lock_guard<std::mutex> l(fetch_mu_);
    fetch_stopping_ = true;  // the loop has cancelled every run it had
    fetch_cv_.notify_all();
  }
  if (fetcher_.joinable()) fetcher_.join();
}

void Agent::Post(const v1::OrchestratorCommand& cmd) { PostEvent(cmd); }

void Agent::PostEvent(Event e) {
  std::lock_guard<std::mutex> l(mu_);
  queue_.push_back(std::move(e));
  cv_.notify_all();
}

void Agent::SetStatusSink(StatusSink sink) {
  std::lock_guard<std::mutex> l(mu_);
  sink_ = std::move(sink);
}

void Agent::SetLogsSink(LogsSink sink) {
  std::lock_guard<std::mutex> l(mu_);
  logs_sink_ = std::move(sink);
}

void Agent::RequestPublish() { PostEvent(PublishRequest{}); }

v1::NodeStatus Agent::LastStatus() const {
  std::lock_guard<std::mutex> l(mu_);
  return last_status_;
}

v1::Register Agent::MakeRegister() const {
  v1::Register r;
  r.set_node_id(config_.node_id);
  r.mutable_location()->set_region(config_.region);
  r.mutable_location()->set_latitude(config_.latitude);
  r.mutable_location()->set_longitude(config_.longitude);
  r.set_instance_slots(config_.slots);
  r.set_memory_bytes(config_.memory_bytes);
  r.set_runtime(runtime_.name());
  for (const auto& [name, spec] : templates_) r.add_templates(name);
  r.set_address_range(config_.address_range.ToString());
  r.set_instance_port(config_.port);
  r.set_agent_version(kVersionNumber);
  return r;
}

void Agent::Loop() {
  pthread_setname_np(pthread_self(), "agent-loop");
  for (;;) {
    std::deque<Event> batch;
    {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait_for(l, kLoopTick, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) break;
      batch.swap(queue_);
    }
    for (Event& e : batch) {
      std::visit([this](auto&& ev) { Handle(std::forward<decltype(ev)>(ev)); }, std::move(e));
    }
    CheckExits();
    // Exits drive DNS answers: any state change goes out now, not at the next heartbeat.
    // A batch that changed nothing (health probes that passed again) waits for it: a
    // status costs a scan of the host's TCP sockets and a write to the cluster store.
    if (changed_ || clock_.NowMs() - last_publish_ms_ >= config_.heartbeat_ms) Publish();
  }
  // Shutdown: let in-flight starts finish, then destroy everything.
  for (Worker& w : workers_) w.thread.join();
  workers_.clear();
  std::deque<Event> rest;
  {
    std::lock_guard<std::mutex> l(mu_);
    rest.swap(queue_);
  }
  for (Event& e : rest) {
    if (auto* r = std::get_if<StartResult>(&e)) Handle(std::move(*r));
  }
  for (auto& [id, inst] : instances_) {
    Finish(inst, v1::INSTANCE_STATE_GONE, "agent stopping", v1::FAILURE_KIND_UNSPECIFIED);
  }
  instances_.clear();
  standby_.clear();
  Publish();
}

void Agent::Handle(const v1::OrchestratorCommand& cmd) {
  if (cmd.cmd_case() == v1::OrchestratorCommand::kFetchLogs) return OnFetchLogs(cmd.fetch_logs());
  changed_ = true;  // the orchestrator waits to hear how a command went
  switch (cmd.cmd_case()) {
    case v1::OrchestratorCommand::kCreate:
      OnCreate(cmd.create());
      break;
    case v1::OrchestratorCommand::kDestroy:
      OnDestroy(cmd.destroy().instance_id(), cmd.destroy().reason());
      break;
    case v1::OrchestratorCommand::kPreload:
      OnPreload(cmd.preload());
      break;
    default:
      spdlog::warn("agent {}: ignoring an empty command", config_.node_id);
  }
}

void Agent::OnCreate(const v1::CreateInstance& c) {
  if (instances_.count(c.instance_id())) {
    // A repeated delivery (e.g. replayed by another orchestrator replica): one instance.
    spdlog::debug("agent {}: instance {} exists, ignoring a repeated create", config_.node_id,
                  c.instance_id());
    return;
  }
  absl::StatusOr<IpAddr> addr = CheckCreate(c);
  if (!addr.ok()) return RejectCreate(c, std::string(addr.status().message()));
  const AgentTemplate& tmpl = templates_.at(c.template_name());
  Instance inst;
  inst.id = c.instance_id();
  inst.incarnation = ++next_incarnation_;
  inst.tmpl = c.template_name();
  inst.address = *addr;
  inst.slot = FreeSlot();
  inst.listen_fd = std::move(standby_.extract(*addr).mapped());
  inst.created_ms = clock_.NowMs();
  inst.state = v1::INSTANCE_STATE_STARTING;
  inst.detail = "preloading and starting";
  std::vector<std::string> content(tmpl.preload.begin(), tmpl.preload.end());
  content.insert(content.end(), c.preload_content_ids().begin(), c.preload_content_ids().end());
  InstanceSpec spec{inst.id, tmpl.spec, inst.address, config_.port, inst.slot};
  int raw_fd = inst.listen_fd.get();
  spdlog::info("instance {} {} on {}:{} (template {})", inst.id, v1::StateName(inst.state),
               addr->ToString(), config_.port, inst.tmpl);
  {
    std::lock_guard<std::mutex> l(metrics_mu_);
    ++counters_[inst.tmpl].starts;
  }
  instances_.emplace(inst.id, std::move(inst));
  changed_ = true;
  auto done = std::make_shared<std::atomic<bool>>(false);
  const std::string& id = c.instance_id();
  workers_.push_back(Worker{std::thread([this, id, spec, raw_fd, content, done] {
                              pthread_setname_np(pthread_self(), "agent-start");
                              RunStart(id, spec, raw_fd, content);
                              done->store(true);
                            }),
                            done});
  RefillStandby();
}

// The lowest slot no live instance holds. Finish() destroys the runtime before an entry
// turns GONE or FAILED, so the slot of such an entry is free; CheckCreate() has made sure
// fewer than config_.slots entries exist.
uint32_t Agent::FreeSlot() const {
  std::vector<bool> taken(config_.slots, false);
  for (const auto& [id, inst] : instances_) {
    bool ended = inst.state == v1::INSTANCE_STATE_GONE || inst.state == v1::INSTANCE_STATE_FAILED;
    if (!ended && inst.slot < taken.size()) taken[inst.slot] = true;
  }
  uint32_t slot = 0;
  while (slot < taken.size() && taken[slot]) ++slot;
  return slot;
}

// Everything a create names must fit this node's state; returns the address to use.
absl::StatusOr<IpAddr> Agent::CheckCreate(const v1::CreateInstance& c) const {
  if (!ValidInstanceId(c.instance_id())) {
    return absl::InvalidArgumentError(fmt::format("bad instance id '{}'", c.instance_id()));
  }
  if (!templates_.count(c.template_name())) {
    return absl::NotFoundError(fmt::format("unknown template '{}'", c.template_name()));
  }
  for (const std::string& id : c.preload_content_ids()) {
    absl::Status st = ValidateContentId(id);
    if (!st.ok()) return absl::InvalidArgumentError(fmt::format("preload: {}", st.message()));
  }
  auto addr = IpAddr::Parse(c.address());
  if (!addr.ok()) return absl::InvalidArgumentError(fmt::format("bad address '{}'", c.address()));
  RETURN_IF_ERROR(CheckAddress(*addr));
  if (instances_.size() >= config_.slots) {
    return absl::ResourceExhaustedError(fmt::format("no free slot ({} in use)", instances_.size()));
  }
  return *addr;
}

absl::Status Agent::CheckAddress(const IpAddr& addr) const {
  const Cidr& range = config_.address_range;
  if (!range.HostIndex(addr)) {
    return absl::OutOfRangeError(fmt::format("address {} is not an instance address of {}",
                                             addr.ToString(), range.ToString()));
  }
  for (const auto& [id, inst] : instances_) {
    if (inst.address == addr) {
      return absl::AlreadyExistsError(
          fmt::format("address {} is in use by instance {}", addr.ToString(), id));
    }
  }
  auto q = quarantine_until_.find(addr);
  if (q != quarantine_until_.end() && q->second > clock_.NowMs()) {
    return absl::FailedPreconditionError(
        fmt::format("address {} is quarantined for {} ms more (an instance ended there)",
                    addr.ToString(), q->second - clock_.NowMs()));
  }
  if (!standby_.count(addr)) {
    std::vector<std::string> free;
    for (const auto& [a, fd] : standby_) free.push_back(a.ToString());
    return absl::FailedPreconditionError(
        fmt::format("address {} is not one of this node's standby addresses ({})", addr.ToString(),
                    JoinIds(free)));
  }
  return absl::OkStatus();
}

void Agent::RejectCreate(const v1::CreateInstance& c, const std::string& why) {
  spdlog::warn("agent {}: cannot create {}: {}", config_.node_id, c.instance_id(), why);
  {
    std::lock_guard<std::mutex> l(metrics_mu_);
    ++rejected_creates_;
  }
  v1::InstanceStatus st;
  st.set_instance_id(c.instance_id());
  st.set_template_name(c.template_name());
  st.set_address(c.address());
  st.set_state(v1::INSTANCE_STATE_FAILED);
  st.set_failure(v1::FAILURE_KIND_START);
  st.set_detail(why);
  finished_.push_back(st);
  changed_ = true;
}

void Agent::RunStart(const std::string& id, const InstanceSpec& spec, int fd,
                     const std::vector<std::string>& content) {
  StartResult r{id, absl::OkStatus(), nullptr, {}};
  auto created = runtime_.Create(spec);
  if (!created.ok()) {
    r.status = created.status();
    return PostEvent(std::move(r));
  }
  r.runtime = std::move(*created);
  r.preload = Preload(*r.runtime, content, spec.tmpl.scratch_bytes);
  r.status = r.runtime->Start(fd);
  if (r.status.ok()) r.status = WaitReady(*r.runtime, spec);
  PostEvent(std::move(r));
}

absl::Status Agent::WaitReady(RuntimeInstance& rt, const InstanceSpec& spec) {
  const int64_t deadline = clock_.NowMs() + config_.ready_timeout_ms;
  for (;;) {
    if (prober_.Probe(spec.address, spec.port, spec.tmpl.probe_path, kProbeTimeoutMs)) {
      return absl::OkStatus();
    }
    if (auto code = rt.PollExit()) {
      return absl::UnavailableError(fmt::format("workload exited with {} before ready", *code));
    }
    if (clock_.NowMs() > deadline) {
      return absl::DeadlineExceededError("readiness probe did not pass in time");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

void Agent::Handle(StartResult r) {
  auto it = instances_.find(r.id);
  if (it == instances_.end()) return;
  Instance& inst = it->second;
  inst.runtime = std::move(r.runtime);
  inst.preload_missing = r.preload.missing;
  for (const auto& [id, bytes] : r.preload.fetched) inst.preloaded.Add(id, bytes, clock_.NowMs());
  SyncScratchBytes(inst);
  CountPreload(inst.tmpl, r.preload);
  std::string preload = r.preload.Describe();
  if (!preload.empty()) spdlog::warn("instance {}: {}", inst.id, preload);
  if (!r.status.ok()) {
    // Missing content is often why a readiness probe fails: say so with the failure.
    return Finish(inst, v1::INSTANCE_STATE_FAILED,
                  fmt::format("{}{}{}", r.status.message(), preload.empty() ? "" : "; ", preload),
                  v1::FAILURE_KIND_START);
  }
  if (inst.destroy_requested) {
    return Finish(inst, v1::INSTANCE_STATE_GONE, "destroyed while starting",
                  v1::FAILURE_KIND_UNSPECIFIED);
  }
  inst.state = v1::INSTANCE_STATE_READY;
  inst.probe_ok = true;
  WatchReports(inst);
  inst.start_ms = clock_.NowMs() - inst.created_ms;
  {
    std::lock_guard<std::mutex> l(metrics_mu_);
    counters_[inst.tmpl].start_seconds.Observe(static_cast<double>(inst.start_ms) / 1000.0);
  }
  inst.detail =
      fmt::format("ready in {} ms{}{}", inst.start_ms, preload.empty() ? "" : "; ", preload);
  changed_ = true;
  spdlog::info("instance {} ready on {}:{} in {} ms", inst.id, inst.address.ToString(),
               config_.port, inst.start_ms);
}

void Agent::Handle(const ProbeResult& r) {
  auto it = instances_.find(r.id);
  if (it == instances_.end() || it->second.state != v1::INSTANCE_STATE_READY) return;
  Instance& inst = it->second;
  inst.probe_failures = r.ok ? 0 : inst.probe_failures + 1;
  inst.probe_ok = inst.probe_failures < kProbeFailuresBeforeUnhealthy;
  if (!inst.probe_ok) {
    Finish(inst, v1::INSTANCE_STATE_FAILED, "health probe failing", v1::FAILURE_KIND_UNHEALTHY);
  }
}

void Agent::OnDestroy(const std::string& id, const std::string& reason) {
  auto it = instances_.find(id);
  if (it == instances_.end()) return;
  Instance& inst = it->second;
  if (inst.state == v1::INSTANCE_STATE_STARTING) {
    inst.destroy_requested = true;
    inst.state = v1::INSTANCE_STATE_DRAINING;
    changed_ = true;
    return;
  }
  Finish(inst, v1::INSTANCE_STATE_GONE, reason.empty() ? "destroyed" : reason,
         v1::FAILURE_KIND_UNSPECIFIED);
}

void Agent::WatchReports(const Instance& inst) {
  int fd = inst.runtime ? inst.runtime->content_report_fd() : -1;
  if (fd < 0) return;  // this runtime's workloads do not report
  ScopedFd dup(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
  if (!dup.valid()) {
    spdlog::warn("instance {}: content reports: dup: {}", inst.id, std::strerror(errno));
    return;
  }
  std::lock_guard<std::mutex> l(reports_mu_);
  uint64_t key = next_report_key_++;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = key;
  if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, dup.get(), &ev) != 0) {
    spdlog::warn("instance {}: content reports: epoll: {}", inst.id, std::strerror(errno));
    return;
  }
  report_keys_[key] = inst.id;
  report_watches_[inst.id] = ReportWatch{inst.tmpl, std::move(dup)};
}

void Agent::UnwatchReports(const std::string& id) {
  std::lock_guard<std::mutex> l(reports_mu_);
  auto it = report_watches_.find(id);
  if (it == report_watches_.end()) return;
  ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, it->second.fd.get(), nullptr);
  report_watches_.erase(it);  // closes our dup
  std::erase_if(report_keys_, [&](const auto& kv) { return kv.second == id; });
}

// "agent-reports": reads every ready report socket, posts the sums to the loop.
void Agent::ReportLoop() {
  pthread_setname_np(pthread_self(), "agent-reports");
  ReportBatch batch;
  int64_t last_post = clock_.NowMs();
  std::array<epoll_event, 64> events;
  for (;;) {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (stopping_) return;
    }
    int n = ::epoll_wait(epoll_fd_.get(), events.data(), static_cast<int>(events.size()),
                         kReportBatchMs);
    for (int i = 0; i < n; ++i) {
      std::lock_guard<std::mutex> l(reports_mu_);
      auto key = report_keys_.find(events[static_cast<size_t>(i)].data.u64);
      if (key == report_keys_.end()) continue;  // unwatched meanwhile
      const ReportWatch& w = report_watches_.at(key->second);
      ReadReports(key->second, w.tmpl, w.fd.get(), batch);
    }
    int64_t now = clock_.NowMs();
    if ((!batch.served.empty() || !batch.refused.empty()) && now - last_post >= kReportBatchMs) {
      PostEvent(std::move(batch));
      batch = ReportBatch{};
      last_post = now;
    }
  }
}

void Agent::ReadReports(const std::string& instance, const std::string& tmpl, int fd,
                        ReportBatch& batch) {
  char buf[workload::kMaxContentReportBytes + 1];
  for (int i = 0; i < kMaxReportsPerRead; ++i) {
    ssize_t got = ::recv(fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);
    if (got < 0) return;  // EAGAIN: all read
    if (static_cast<size_t>(got) > workload::kMaxContentReportBytes) {
      ++batch.refused[tmpl].invalid;  // longer than any report: truncated, refused
      continue;
    }
    std::optional<workload::ContentReport> r =
        workload::ParseContentReport(std::string_view(buf, static_cast<size_t>(got)));
    if (!r || !ValidateContentId(r->id).ok()) {
      ++batch.refused[tmpl].invalid;
      continue;
    }
    if (r->status < 200 || r->status >= 400) {
      ++batch.refused[tmpl].unserved;
      continue;
    }
    auto key = std::make_pair(instance, std::string(r->id));
    auto it = batch.served.find(key);
    if (it == batch.served.end()) {
      if (batch.served.size() >= kMaxBatchKeys) {
        ++batch.refused[tmpl].overflow;
        continue;
      }
      it = batch.served.emplace(std::move(key), ContentCount{}).first;
    }
    ++it->second.count;
    it->second.last_bytes = r->bytes;
  }
}

void Agent::Handle(ReportBatch b) {
  std::map<std::string, ReportCounters> counted = std::move(b.refused);
  std::map<std::string, std::pair<uint64_t, uint64_t>> hits;  // by template: requests, hits
  for (const auto& [key, c] : b.served) {
    auto inst = instances_.find(key.first);
    if (inst == instances_.end()) continue;  // ended meanwhile
    const std::string& tmpl = inst->second.tmpl;
    hits[tmpl].first += c.count;
    if (inst->second.preloaded.Hit(key.second, c.count)) hits[tmpl].second += c.count;
    auto tally = content_.try_emplace(tmpl, kMaxContentIdsPerTemplate).first;
    if (tally->second.Add(key.second, c.count, c.last_bytes)) {
      counted[tmpl].counted += c.count;
    } else {
      counted[tmpl].overflow += c.count;
    }
  }
  std::lock_guard<std::mutex> l(metrics_mu_);
  for (const auto& [tmpl, c] : counted) {
    ReportCounters& r = counters_[tmpl].reports;
    r.counted += c.counted;
    r.unserved += c.unserved;
    r.invalid += c.invalid;
    r.overflow += c.overflow;
  }
  for (const auto& [tmpl, h] : hits) {
    counters_[tmpl].preload_requests += h.first;
    counters_[tmpl].preload_hits += h.second;
  }
}

void Agent::CheckExits() {
  for (auto& [id, inst] : instances_) {
    if (inst.state != v1::INSTANCE_STATE_READY || !inst.runtime) continue;
    if (auto code = inst.runtime->PollExit()) {
      Finish(inst, v1::INSTANCE_STATE_FAILED, fmt::format("workload exited with {}", *code),
             v1::FAILURE_KIND_CRASH);
    }
  }
  for (auto it = instances_.begin(); it != instances_.end();) {
    bool done = it->second.state == v1::INSTANCE_STATE_GONE ||
                it->second.state == v1::INSTANCE_STATE_FAILED;
    it = done ? instances_.erase(it) : std::next(it);
  }
  ReapWorkers();
}

void Agent::ReapWorkers() {
  for (auto it = workers_.begin(); it != workers_.end();) {
    if (it->done->load()) {
      it->thread.join();
      it = workers_.erase(it);
    } else {
      ++it;
    }
  }
}

void Agent::OnFetchLogs(const v1::FetchLogs& f) {
  v1::Logs out;
  out.set_request_id(f.request_id());
  out.set_instance_id(f.instance_id());
  absl::StatusOr<OutputTail> tail =
      absl::NotFoundError(fmt::format("no instance {} here (nor among the last {} that ended)",
                                      f.instance_id(), kEndedOutputsKept));
  auto live = instances_.find(f.instance_id());
  if (live != instances_.end() && live->second.runtime) {
    tail = live->second.runtime->Output();
  } else if (live != instances_.end()) {
    tail = OutputTail{};  // reserved or starting: nothing written yet
  } else {
    for (auto it = ended_output_.rbegin(); it != ended_output_.rend(); ++it) {
      if (it->first != f.instance_id()) continue;
      tail = it->second;
      out.set_ended(true);
      break;
    }
  }
  if (tail.ok()) {
    std::string_view kept = LastLines(tail->data, f.tail_lines());
    out.set_output(ValidUtf8(kept));
    out.set_dropped_bytes(tail->dropped + (tail->data.size() - kept.size()));
  } else {
    out.set_code(static_cast<int32_t>(tail.status().code()));
    out.set_message(std::string(tail.status().message()));
  }
  LogsSink sink;
  {
    std::lock_guard<std::mutex> l(mu_);
    sink = logs_sink_;
  }
  if (!sink || !sink(out)) {
    spdlog::debug("agent {}: the logs of {} found no stream to go back on", config_.node_id,
                  f.instance_id());
  }
}

void Agent::Finish(Instance& inst, v1::InstanceState final_state, const std::string& detail,
                   v1::FailureKind failure) {
  if (inst.state == v1::INSTANCE_STATE_GONE || inst.state == v1::INSTANCE_STATE_FAILED) return;
  // Close our copy of the socket first: new connections are refused, not queued forever.
  inst.listen_fd.reset();
  UnwatchReports(inst.id);
  // A preload in flight writes nothing more; what it did is not applied (Handle).
  if (inst.preload_run) inst.preload_run->cancel->store(true);
  inst.preload_run.reset();
  inst.preload_waiting.reset();
  inst.preloaded = PreloadedContent{};
  SyncScratchBytes(inst);
  if (inst.runtime) {
    // Its output, before Destroy() removes it: what a crashed workload said is kept (a
    // workload that exited has its output complete by then).
    if (absl::StatusOr<OutputTail> out = inst.runtime->Output(); out.ok()) {
      ended_output_.emplace_back(inst.id, *std::move(out));
      if (ended_output_.size() > kEndedOutputsKept) ended_output_.pop_front();
    }
    CountRelayed(inst);
    absl::Status st = inst.runtime->Destroy();
    if (!st.ok()) spdlog::warn("instance {}: destroy: {}", inst.id, st.message());
  }
  inst.runtime.reset();
  inst.state = final_state;
  inst.detail = detail;
  inst.failure = final_state == v1::INSTANCE_STATE_FAILED ? failure : v1::FAILURE_KIND_UNSPECIFIED;
  inst.probe_ok = false;
  quarantine_until_[inst.address] = clock_.NowMs() + config_.quarantine_ms;
  spdlog::log(final_state == v1::INSTANCE_STATE_FAILED ? spdlog::level::warn : spdlog::level::info,
              "instance {} {}: {}", inst.id, v1::StateName(final_state), detail);
  finished_.push_back(StatusOf(inst));
  CountFinish(inst);
  changed_ = true;
}

void Agent::CountFinish(const Instance& inst) {
  std::lock_guard<std::mutex> l(metrics_mu_);
  TemplateCounters& c = counters_[inst.tmpl];
  if (inst.state == v1::INSTANCE_STATE_GONE) {
    ++c.stops;
  } else if (inst.failure == v1::FAILURE_KIND_CRASH) {
    ++c.crashed;
  } else if (inst.failure == v1::FAILURE_KIND_UNHEALTHY) {
    ++c.unhealthy;
  } else {
    ++c.failed_start;
  }
}

v1::InstanceStatus Agent::StatusOf(const Instance& inst) const {
  v1::InstanceStatus st;
  st.set_instance_id(inst.id);
  st.set_template_name(inst.tmpl);
  st.set_address(inst.address.ToString());
  st.set_state(inst.state);
  st.set_detail(inst.detail);
  st.set_probe_ok(inst.probe_ok);
  st.set_start_ms(inst.start_ms);
  st.set_memory_bytes(inst.memory_bytes);
  st.set_failure(inst.failure);
  for (const std::string& id : inst.preload_missing) st.add_preload_missing(id);
  return st;
}

void Agent::RefillStandby() {
  const Cidr& range = config_.address_range;
  const uint64_t count = range.HostCount();
  int64_t now = clock_.NowMs();
  int failures = 0;
  for (uint64_t i = 0; i < count && standby_.size() < config_.standby; ++i) {
    IpAddr a = range.Host(i);
    if (standby_.count(a)) continue;
    auto q = quarantine_until_.find(a);
    if (q != quarantine_until_.end() && q->second > now) continue;
    bool used = false;
    for (const auto& [id, inst] : instances_) used = used || inst.address == a;
    if (used) continue;
    absl::StatusOr<ScopedFd> fd = ListenTcp(a, config_.port);
    if (!fd.ok()) {
      spdlog::warn("agent {}: standby {}: {}", config_.node_id, a.ToString(),
                   fd.status().message());
      // An IPv6 range has 2^32 candidates: when binding fails (an address not local to this
      // host), stop here and try again at the next status instead of walking them all.
      if (++failures >= kMaxStandbyBindFailures) break;
      continue;
    }
    standby_.emplace(a, std::move(*fd));
  }
}

void Agent::CountRelayed(Instance& inst) {
  const RelayCounts now = inst.runtime->Relayed();
  RelayCounts& was = inst.relay_counted;
  if (now == was) return;
  std::lock_guard<std::mutex> l(metrics_mu_);
  RelayCounts& sum = counters_[inst.tmpl].relay;
  sum.relayed += now.relayed - was.relayed;
  sum.in_kernel += now.in_kernel - was.in_kernel;
  sum.refused += now.refused - was.refused;
  sum.held_back += now.held_back - was.held_back;
  sum.handed += now.handed - was.handed;
  was = now;
}

void Agent::Publish() {
  RefillStandby();
  std::map<IpAddr, uint32_t> conns = CountEstablished(config_.port);
  v1::NodeStatus s;
  s.set_node_id(config_.node_id);
  uint64_t mem = 0;
  std::vector<ProbeTarget> probe;
  for (auto& [id, inst] : instances_) {
    if (inst.runtime && inst.state == v1::INSTANCE_STATE_READY) {
      inst.memory_bytes = inst.runtime->Usage().memory_bytes;
      CountRelayed(inst);
      probe.push_back(ProbeTarget{id, inst.address, templates_.at(inst.tmpl).spec.probe_path});
    }
    v1::InstanceStatus* st = s.add_instances();
    *st = StatusOf(inst);
    st->set_active_connections(conns[inst.address]);
    mem += inst.memory_bytes;
  }
  for (const auto& f : finished_) *s.add_instances() = f;
  for (const auto& [addr, fd] : standby_) s.add_standby_addresses(addr.ToString());
  s.set_slots_used(static_cast<uint32_t>(instances_.size()));
  // VMs started ahead of their instances (runtime.standby_vms) hold node memory too.
  s.set_memory_used_bytes(mem + runtime_.Reserve().memory_bytes);
  s.set_cpu_load(LoadAverage());
  s.set_sent_unix_ms(clock_.NowMs());
  last_publish_ms_ = clock_.NowMs();
  changed_ = false;
  v1::NodeStatus without_content = s;  // what a (re)connect repeats: counts go once
  for (auto& [tmpl, tally] : content_) {
    for (auto& [id, c] : tally.TakeTop(kMaxContentPerStatus)) {
      v1::ContentServed* cs = s.add_content();
      cs->set_template_name(tmpl);
      cs->set_content_id(std::move(id));
      cs->set_requests(c.count);
      cs->set_size_bytes(c.last_bytes);
    }
  }
  StatusSink sink;
  {
    std::lock_guard<std::mutex> l(mu_);
    last_status_ = std::move(without_content);
    ready_for_probe_ = std::move(probe);
    sink = sink_;
  }
  // Final states stay in every status until one reached an orchestrator.
  if (sink && sink(s)) {
    finished_.clear();
    return;
  }
  if (finished_.size() > kMaxUndelivered) {
    finished_.erase(finished_.begin(), finished_.end() - kMaxUndelivered);
  }
  // Nobody heard them: the counts wait for the next status.
  for (const v1::ContentServed& c : s.content()) {
    content_.try_emplace(c.template_name(), kMaxContentIdsPerTemplate)
        .first->second.Add(c.content_id(), c.requests(), c.size_bytes());
  }
}

void Agent::HealthLoop() {
  pthread_setname_np(pthread_self(), "agent-health");
  for (;;) {
    std::vector<ProbeTarget> targets;
    {
      std::unique_lock<std::mutex> l(mu_);
      auto interval = std::chrono::milliseconds(config_.health_interval_ms);
      if (cv_.wait_for(l, interval, [&] { return stopping_; })) return;
      targets = ready_for_probe_;
    }
    for (const ProbeTarget& t : targets) {
      PostEvent(ProbeResult{t.id, prober_.Probe(t.address, config_.port, t.path, kProbeTimeoutMs)});
    }
  }
}

namespace {

// One sock_diag dump of the host's established TCP sockets of `family` (the kernel
// filters the state; we the port). /proc/net/tcp would format every socket of the host
// as text, listening ones included, on every status.
std::map<IpAddr, uint32_t> DumpEstablished(uint8_t family, uint16_t port) {
  std::map<IpAddr, uint32_t> out;
  ScopedFd fd(socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
  if (!fd.valid()) return out;
  struct {
    nlmsghdr nlh;
    inet_diag_req_v2 req;
  } msg{};
  msg.nlh.nlmsg_len = sizeof(msg);
  msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  msg.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  msg.req.sdiag_family = family;
  msg.req.sdiag_protocol = IPPROTO_TCP;
  msg.req.idiag_states = 1u << TCP_ESTABLISHED;
  if (send(fd.get(), &msg, sizeof(msg), 0) < 0) return out;
  alignas(nlmsghdr) char buf[32768];
  for (;;) {
    ssize_t got = recv(fd.get(), buf, sizeof(buf), 0);
    if (got <= 0) return out;
    int len = static_cast<int>(got);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) return out;
      const auto* d = static_cast<const inet_diag_msg*>(NLMSG_DATA(h));
      if (ntohs(d->id.idiag_sport) != port) continue;
      if (family == AF_INET) {
        ++out[IpAddr::V4(ntohl(d->id.idiag_src[0]))];
      } else {
        std::array<uint8_t, 16> b;
        std::memcpy(b.data(), d->id.idiag_src, 16);
        ++out[IpAddr::V6(b)];
      }
    }
  }
}

}  // namespace

std::map<IpAddr, uint32_t> CountEstablished(uint16_t port) {
  std::map<IpAddr, uint32_t> out = DumpEstablished(AF_INET, port);
  out.merge(DumpEstablished(AF_INET6, port));
  return out;
}

}  // namespace prewarm::agent
