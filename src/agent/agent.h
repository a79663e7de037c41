// The per-node agent: starts, preloads, probes, supervises and stops instances on
// orders from the orchestrator, and reports their state.
//
// Threads: "agent-loop" owns every instance record and is the only one to change them;
// it is fed by a command/event queue. Each instance start runs on its own short-lived
// worker (Create -> preload -> Start -> readiness probe), which posts its result back.
// "agent-preload" fetches content into ready instances (below) and posts what it did.
// "agent-health" probes ready instances and posts failures. The gRPC session
// (session.h) posts commands and carries the status the loop publishes.
//
// Status: published at once whenever an instance changes state (an exit found by the
// loop's 100 ms poll included), on every command batch, and at least every heartbeat.
// A FAILED instance says why (InstanceStatus.failure): START (never became ready, or the
// create was refused), CRASH (its workload exited after ready), UNHEALTHY (its health
// probe failed twice after ready). Final states (FAILED / GONE) are kept and repeated
// until a status reached a connected orchestrator, then forgotten.
//
// Preload: a content id the origin does not have (NotFound) fails that preload only; the
// instance starts without it and lists it in InstanceStatus.preload_missing for its whole
// life. An unreachable origin (or a 5xx) skips the remaining preloads of that start: the
// instance starts without them, and its status detail names them ("origin unreachable").
// Content ids that could escape the scratch directory refuse the create (FAILED, START).
//
// Preloaded bytes count against the template's scratch_bytes: each fetch may write only
// the room the instance's preloaded content leaves (origin.h, FetchLimits), and content that
// does not fit, or a full scratch, is a ResourceExhausted fetch ("no room": counted, named
// in the status detail) that writes nothing. prewarm_agent_preload_scratch_bytes shows what
// the live instances hold, per template.
//
// PreloadContent (issue 17: the forecaster's top-K changed) into a ready instance: the
// loop picks the ids it does not hold (the orchestrator sends only those; a repeated
// delivery fetches nothing) and hands them to "agent-preload", one fetch thread, so a slow
// or large fetch never holds up the loop's other commands. Each instance has at most one
// run there (so at most `slots` are queued); lists that arrive meanwhile are merged (the
// newest whole list decides what is kept) and run next; a run takes at most
// kMaxPreloadIds. The thread fetches in order until an id does not fit and posts what it
// did back to the loop, which applies it (records the content, counts it) only to the same
// incarnation of a still-ready instance; a destroyed instance's run is cancelled and
// writes nothing more (every file is created under a descriptor of the instance's content
// directory). An id that escapes is refused and logged, the others are preloaded. When an
// id does not fit, content outside the new whole list (current_content_ids) and the
// template's own list is evicted, the least hit, then the oldest first (preloaded.h), and
// the fetch is retried; with nothing left to evict that id gets no room and the rest are
// tried. Evictions are counted (prewarm_agent_preload_evictions_total).
//
// Commands are checked against this node's own state, never trusted: a create for an
// instance id the agent already runs is ignored; a create must name one of the node's
// free standby addresses (not another instance's, not quarantined, inside the range),
// otherwise that create fails (START) and the instance holding the address is untouched.
//
// Content reports (issue 17): each instance's runtime binds a unix datagram socket its
// workload reports every request to (RuntimeInstance::content_report_fd; not for QEMU
// guests or gVisor). "agent-reports" waits on those sockets (epoll), checks each datagram
// (workload::ParseContentReport, ValidateContentId: the workload is not trusted), and posts
// what it read, summed per (instance, content id), to the loop's queue at most every
// 100 ms. The loop sums served requests (2xx/3xx) per (template, content id): count and
// last size, at most kMaxContentIdsPerTemplate ids; bad, unserved and overflowing reports
// are counted (prewarm_agent_content_reports_total{result}) and dropped. A served report
// whose id was preloaded into the instance that served it is a preload hit
// (prewarm_agent_preload_hits_total / prewarm_agent_preload_requests_total). Each status
// carries the top kMaxContentPerStatus ids per template (NodeStatus.content; the rest
// are dropped) and the tally starts again; the ids of a status no orchestrator heard go
// back into it. LastStatus(), which a (re)connect repeats, has none.
//
// Output (`prewarm ctl logs`): each runtime keeps its instances' workload output within
// AgentConfig::output_bytes (agent/output_log.h). A FetchLogs command is answered on the
// loop with a Logs message (LogsSink, the stream it came down): the tail of a live
// instance's output, or what one of the last kEndedOutputsKept ended instances left (read
// when it ended, before its runtime removed its files), else NOT_FOUND.
//
// Metrics (RenderMetrics, served on the agent's http.listen by cli/daemons.cc): counters
// the loop keeps under metrics_mu_, the instances of the last published status, and the
// queue's depth, labelled with the node, its region and the template.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "agent/config.h"
#include "agent/content_tally.h"
#include "agent/origin.h"
#include "agent/preloaded.h"
#include "agent/runtime.h"
#include "common/clock.h"
#include "common/histogram.h"
#include "prewarm/v1/agent.pb.h"

namespace prewarm::agent {

// Receives each published status; returns whether it reached the orchestrator (final
// instance states are repeated until one did).
using StatusSink = std::function<bool(const v1::NodeStatus&)>;
// Receives the answer to each FetchLogs command; returns whether it was sent.
using LogsSink = std::function<bool(const v1::Logs&)>;

// A template as this node runs it: the runtime's spec plus content every instance gets.
struct AgentTemplate {
  TemplateSpec spec;
  std::vector<std::string> preload;
};

struct ProbeTarget {
  std::string id;
  IpAddr address;
  std::string path;
};

class Agent {
 public:
  Agent(AgentConfig config, std::map<std::string, AgentTemplate> templates, Runtime& runtime,
        Origin& origin, Prober& prober, const Clock& clock);
  ~Agent();

  // Cleans up leftovers of a previous run, binds standby sockets, starts the threads.
  absl::Status Start();
  // Destroys every instance (nothing outlives the agent) and joins the threads.
  void Stop();

  // Thread-safe: queue a command from the orchestrator.
  void Post(const v1::OrchestratorCommand& cmd);
  // Receives every status the loop publishes (on change and every heartbeat).
  void SetStatusSink(StatusSink sink);
  // Receives the answers to FetchLogs (on the stream the command came down).
  void SetLogsSink(LogsSink sink);
  // Thread-safe: publish a fresh status soon (e.g. right after a (re)connect).
  void RequestPublish();
  v1::Register MakeRegister() const;
  // The latest published status (thread-safe copy).
  v1::NodeStatus LastStatus() const;
  const AgentConfig& config() const { return config_; }
  // Prometheus text of this node's metrics (thread-safe).
  std::string RenderMetrics() const;

 private:
  // What a preload did: ids fetched, ids the origin does not have, ids with no room in
  // the scratch, ids skipped (and why).
  struct PreloadOutcome {
    std::vector<std::pair<std::string, uint64_t>> fetched;  // id, bytes written
    std::vector<std::string> missing;
    std::vector<std::string> no_room;  // over the template's scratch_bytes, or it was full
    std::string no_room_why;
    std::vector<std::string> skipped;
    std::string skipped_why;
    // FetchList only: the id that did not fit, and the ids after it, not tried.
    std::vector<std::string> not_tried;
    absl::Status full;
    std::string Describe() const;  // "" when everything was preloaded
    void Merge(PreloadOutcome o);  // o's results added; not_tried / full taken from o
  };
  // A warm preload of one instance (OnPreload), in flight on "agent-preload".
  struct PreloadRun {
    std::set<std::string> keep;           // the template's list and the whole new one
    std::shared_ptr<const ScopedFd> dir;  // the instance's content directory
    std::shared_ptr<std::atomic<bool>> cancel;
    PreloadOutcome out;  // so far
  };
  struct Instance {
    std::string id;
    uint64_t incarnation = 0;  // tells a preload result for an earlier instance of `id` apart
    std::string tmpl;
    IpAddr address;
    uint32_t slot = 0;  // InstanceSpec::slot; free again once the instance has ended
    v1::InstanceState state = v1::INSTANCE_STATE_RESERVED;
    std::string detail;
    ScopedFd listen_fd;
    std::unique_ptr<RuntimeInstance> runtime;
    int64_t created_ms = 0;
    int64_t start_ms = 0;  // create -> ready
    bool destroy_requested = false;
    bool probe_ok = false;
    int probe_failures = 0;
    uint64_t memory_bytes = 0;
    RelayCounts relay_counted;  // runtime->Relayed() as last added to the metrics
    v1::FailureKind failure = v1::FAILURE_KIND_UNSPECIFIED;
    std::vector<std::string> preload_missing;  // the origin did not have them
    PreloadedContent preloaded;                // fetched into its scratch: a report is a hit
    uint64_t counted_scratch_bytes = 0;        // preloaded.bytes() as in the metrics
    std::optional<PreloadRun> preload_run;
    std::optional<v1::PreloadContent> preload_waiting;  // lists merged while a run is in flight
  };
  // Content reports, per template, for /metrics.
  struct ReportCounters {
    uint64_t counted = 0;   // served (2xx/3xx), valid: in the tally
    uint64_t unserved = 0;  // valid, but the workload answered 1xx/4xx/5xx
    uint64_t invalid = 0;   // malformed, a bad content id, or truncated
    uint64_t overflow = 0;  // a new id while the tally (or a batch) was full
  };
  struct StartResult {
    std::string id;
    absl::Status status;
    std::unique_ptr<RuntimeInstance> runtime;
    PreloadOutcome preload;
  };
  struct ProbeResult {
    std::string id;
    bool ok;
  };
  struct PublishRequest {};
  // A job for "agent-preload", and what it did (posted to the loop).
  struct FetchJob {
    std::string instance;
    uint64_t incarnation = 0;
    std::vector<std::string> ids;
    uint64_t room = 0;  // bytes it may write
    std::shared_ptr<const ScopedFd> dir;
    std::shared_ptr<std::atomic<bool>> cancel;
  };
  struct PreloadResult {
    std::string instance;
    uint64_t incarnation = 0;
    PreloadOutcome out;
  };
  // What "agent-reports" read since its last batch: served requests per (instance, id),
  // and per template the reports it refused.
  struct ReportBatch {
    std::map<std::pair<std::string, std::string>, ContentCount> served;
    std::map<std::string, ReportCounters> refused;  // by template; `counted` unused
  };
  using Event = std::variant<v1::OrchestratorCommand, StartResult, ProbeResult, PublishRequest,
                             ReportBatch, PreloadResult>;

  void Loop();
  void HealthLoop();
  void Handle(const v1::OrchestratorCommand& cmd);
  void Handle(StartResult r);
  void Handle(const ProbeResult& r);
  void Handle(PublishRequest) { changed_ = true; }
  void Handle(ReportBatch b);
  void Handle(PreloadResult r);
  void OnCreate(const v1::CreateInstance& c);
  absl::StatusOr<IpAddr> CheckCreate(const v1::CreateInstance& c) const;
  uint32_t FreeSlot() const;
  absl::Status CheckAddress(const IpAddr& addr) const;
  void RejectCreate(const v1::CreateInstance& c, const std::string& why);
  void OnDestroy(const std::string& id, const std::string& reason);
  void OnPreload(const v1::PreloadContent& p);
  void OnFetchLogs(const v1::FetchLogs& f);
  void RunStart(const std::string& id, const InstanceSpec& spec, int fd,
                const std::vector<std::string>& content);
  absl::Status WaitReady(RuntimeInstance& rt, const InstanceSpec& spec);
  // Cold start (on the start worker): `content` into `rt`'s scratch, within `budget` bytes.
  PreloadOutcome Preload(RuntimeInstance& rt, const std::vector<std::string>& content,
                         uint64_t budget);
  // Fetches `ids` in order into `dir_fd`, writing at most `room` bytes, until one does not
  // fit (PreloadOutcome::not_tried). Any thread.
  PreloadOutcome FetchList(const std::vector<std::string>& ids, int dir_fd, uint64_t room,
                           const std::atomic<bool>* cancel);
  // Warm preload, on the loop: starts `inst`'s run of `p`, or merges `p` into the waiting one.
  void StartPreloadRun(Instance& inst, const v1::PreloadContent& p);
  void StartWaitingRun(Instance& inst);
  void SubmitFetch(const Instance& inst, std::vector<std::string> ids);
  void FinishPreloadRun(Instance& inst);
  void FetchLoop();
  // Removes `id` from `inst`'s scratch and its preloaded content; counted.
  void Evict(Instance& inst, const std::string& id);
  // Evicts the coldest entry outside `keep`; false when there is none.
  bool EvictColdest(Instance& inst, const std::set<std::string>& keep);
  // Publishes the change of inst.preloaded.bytes() to the scratch bytes gauge.
  void SyncScratchBytes(Instance& inst);
  // Adds what the instance's relay did since the last call to its template's counters.
  void CountRelayed(Instance& inst);
  void CheckExits();
  void ReapWorkers();
  void Finish(Instance& inst, v1::InstanceState final_state, const std::string& detail,
              v1::FailureKind failure);
  v1::InstanceStatus StatusOf(const Instance& inst) const;
  void RefillStandby();
  void Publish();
  void PostEvent(Event e);
  // Metrics, from the loop thread.
  void CountPreload(const std::string& tmpl, const PreloadOutcome& out);
  void CountFinish(const Instance& inst);

  void ReportLoop();
  void WatchReports(const Instance& inst);
  void UnwatchReports(const std::string& id);
  void ReadReports(const std::string& instance, const std::string& tmpl, int fd,
                   ReportBatch& batch);

  // Per template, for /metrics.
  struct TemplateCounters {
    uint64_t starts = 0;  // creates accepted
    uint64_t stops = 0;   // ended GONE (destroyed)
    uint64_t failed_start = 0, crashed = 0, unhealthy = 0;
    uint64_t preload_fetched = 0, preload_missing = 0, preload_skipped = 0;
    uint64_t preload_no_room = 0;
    uint64_t preload_evicted = 0;  // removed to make room for a new list
    uint64_t preload_fetched_bytes = 0;
    uint64_t preload_scratch_bytes = 0;  // gauge: held by the live instances
    // Served requests reported by the template's instances, and those whose content had
    // been preloaded into the instance that served it.
    uint64_t preload_requests = 0, preload_hits = 0;
    RelayCounts relay;  // the relay's connections, summed over the template's instances
    HistogramData start_seconds{buckets::kInstanceStart};  // create -> ready
    ReportCounters reports;
  };

  const AgentConfig config_;
  const std::map<std::string, AgentTemplate> templates_;
  Runtime& runtime_;
  Origin& origin_;
  Prober& prober_;
  const Clock& clock_;

  // Queue shared with producers.
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Event> queue_;
  bool stopping_ = false;
  StatusSink sink_;
  LogsSink logs_sink_;
  v1::NodeStatus last_status_;
  std::vector<ProbeTarget> ready_for_probe_;  // for the health thread

  mutable std::mutex metrics_mu_;
  std::map<std::string, TemplateCounters> counters_ ABSL_GUARDED_BY(metrics_mu_);
  uint64_t rejected_creates_ ABSL_GUARDED_BY(metrics_mu_) = 0;

  // "agent-preload": its queue (at most one job per instance).
  mutable std::mutex fetch_mu_;
  std::condition_variable fetch_cv_;
  std::deque<FetchJob> fetch_queue_ ABSL_GUARDED_BY(fetch_mu_);
  bool fetch_busy_ ABSL_GUARDED_BY(fetch_mu_) = false;  // a job is running
  bool fetch_stopping_ ABSL_GUARDED_BY(fetch_mu_) = false;

  // The report sockets "agent-reports" waits on: a dup of each ready instance's
  // content_report_fd, by instance id (the loop adds and removes them).
  struct ReportWatch {
    std::string tmpl;
    ScopedFd fd;
  };
  std::mutex reports_mu_;
  ScopedFd epoll_fd_;
  std::map<std::string, ReportWatch> report_watches_ ABSL_GUARDED_BY(reports_mu_);
  std::map<uint64_t, std::string> report_keys_ ABSL_GUARDED_BY(reports_mu_);  // epoll data -> id
  uint64_t next_report_key_ ABSL_GUARDED_BY(reports_mu_) = 0;

  // Owned by the loop thread only.
  std::map<std::string, ContentTally> content_;  // by template, until the next status
  std::map<std::string, Instance> instances_;
  uint64_t next_incarnation_ = 0;
  std::map<IpAddr, ScopedFd> standby_;
  std::map<IpAddr, int64_t> quarantine_until_;
  std::vector<v1::InstanceStatus> finished_;  // until a status reached the orchestrator
  // The output of the last kEndedOutputsKept instances that ended, oldest first: an
  // instance's runtime (and its output files) go when it ends.
  std::deque<std::pair<std::string, OutputTail>> ended_output_;
  bool changed_ = false;  // an instance changed state since the last publish
  struct Worker {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::vector<Worker> workers_;
  int64_t last_publish_ms_ = 0;

  std::thread loop_;
  std::thread health_;
  std::thread reports_;
  std::thread fetcher_;
};

// Content ids one warm preload run takes (lists merged while a run is in flight
// included); more are refused (counted as skipped).
inline constexpr size_t kMaxPreloadIds = 4096;

// Ended instances whose output the agent keeps (each within AgentConfig::output_bytes).
inline constexpr size_t kEndedOutputsKept = 32;

// Distinct content ids an agent keeps per template between two statuses.
inline constexpr size_t kMaxContentIdsPerTemplate = 10000;
// Content ids per template in one NodeStatus (the most requested).
inline constexpr size_t kMaxContentPerStatus = 1000;

// Counts ESTABLISHED TCP connections per local address on `port` (from /proc/net/tcp).
std::map<IpAddr, uint32_t> CountEstablished(uint16_t port);

}  // namespace prewarm::agent
