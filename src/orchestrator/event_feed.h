// EventFeed: the demand signal for the forecaster. DNS threads count each service answer
// with one relaxed atomic add into a fixed (region, template, cold) table, at most
// `max_events_per_network_per_s` a cut per (sender's network, region, template), so one
// network cannot pass a flood off as demand (docs/design.md, "Demand"); a cutter thread
// turns the counts into one RequestEventBatch per second, keeps a bounded backlog for
// forecasters that reconnect, and hands batches to every subscriber's bounded queue
// (oldest dropped and counted when a subscriber falls behind). Per-content counts the
// agents report (NodeStatus.content, issue 17) go out with the next cut as
// RequestEventBatch.contents, summed per (region, template, content id).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/status/statusor.h"
#include "autoscale/service_time.h"
#include "common/clock.h"
#include "common/net.h"
#include "orchestrator/config.h"
#include "prewarm/v1/agent.pb.h"
#include "prewarm/v1/forecast.pb.h"

namespace prewarm::orchestrator {

class EventFeed {
 public:
  class Subscription {
   public:
    // Blocks up to `timeout_ms` for the next batch; nullopt on timeout or when closed.
    std::optional<v1::RequestEventBatch> Next(int timeout_ms);
    void Close();
    bool closed() {
      std::lock_guard<std::mutex> l(mu_);
      return closed_;
    }

   private:
    friend class EventFeed;
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<v1::RequestEventBatch> queue_;
    uint64_t dropped_ = 0;
    bool closed_ = false;
  };

  EventFeed(const OrchestratorConfig& config, const Clock& clock);
  ~EventFeed();

  // Indexes for Record(); -1 when unknown. Lock-free: a template's index never changes.
  int RegionIndex(std::string_view region) const;
  int TemplateIndex(std::string_view tmpl) const;
  // Counts answers for a template the config of the start did not have (a SIGHUP reload
  // added it), or updates the tier and service time a known one's events carry. Its index,
  // or an error once the kSpareTemplates slots beyond the start's templates are taken.
  absl::StatusOr<int> AddTemplate(const std::string& name, const TemplateInfo& info);
  static constexpr size_t kSpareTemplates = 256;
  // Hot path: lock-free. `sender` is the query's source address, never its ECS option:
  // anyone can write any client subnet into a query, so it picks the region an answer
  // counts for, and the sender's network (dns::ClientNetwork) bounds how much it counts.
  void Record(int region, int tmpl, bool cold, const IpAddr& sender) {
    if (region < 0 || tmpl < 0) return;
    if (!Weigh(region, tmpl, sender)) {
      capped_total_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    cells_[Cell(region, tmpl, cold)].fetch_add(1, std::memory_order_relaxed);
  }

  // The content counts of an agent whose node is in `region`, for the next cut. Refused
  // (counted in content_refused_total, never forwarded): a region or template this
  // orchestrator does not serve, an invalid content id, no requests, and new ids beyond
  // kMaxPendingContents a cut. Thread-safe.
  void AddContent(const std::string& region,
                  const google::protobuf::RepeatedPtrField<v1::ContentServed>& content);
  uint64_t content_refused_total() const {
    return content_refused_.load(std::memory_order_relaxed);
  }
  static constexpr size_t kMaxPendingContents = 100'000;

  // Cuts the counts of the elapsed second into a batch (called by the thread; tests call
  // it directly with a manual clock).
  void CutNow();
  // Answers are counted into `meter`, and events carry its measured service time per
  // template (the configured services[].service_time_s until one is measured).
  void SetServiceTimes(ServiceTimeMeter* meter) { service_times_ = meter; }
  // Each cut batch is also handed to `tap` (on the cutting thread, before subscribers get
  // it), without counting as a subscriber: the dashboard's history. Set before StartThread.
  using Tap = std::function<void(const v1::RequestEventBatch&)>;
  void SetTap(Tap tap) { tap_ = std::move(tap); }
  void StartThread();
  void Stop();

  // A new subscriber gets the retained batches newer than `since_unix_ms` first.
  std::shared_ptr<Subscription> Subscribe(int64_t since_unix_ms);
  void Unsubscribe(const std::shared_ptr<Subscription>& s);
  uint64_t events_total() const { return events_total_.load(); }
  // Answers not counted because their sender's network had reached its cap.
  uint64_t capped_total() const { return capped_total_.load(std::memory_order_relaxed); }
  size_t subscribers() const;

 private:
  size_t Cell(int region, int tmpl, bool cold) const {
    return (static_cast<size_t>(region) * template_capacity_ + static_cast<size_t>(tmpl)) * 2 +
           (cold ? 1 : 0);
  }
  // False once the sender's network has its cut's share of (region, template).
  bool Weigh(int region, int tmpl, const IpAddr& sender) {
    if (cap_ == 0) return true;
    std::atomic<uint32_t>& w = weights_[WeightSlot(region, tmpl, sender)];
    return w.load(std::memory_order_relaxed) < cap_ &&
           w.fetch_add(1, std::memory_order_relaxed) < cap_;
  }
  size_t WeightSlot(int region, int tmpl, const IpAddr& sender) const;
  void Deliver(const v1::RequestEventBatch& batch);

  const OrchestratorConfig& config_;
  const Clock& clock_;
  std::vector<std::string> regions_;
  // The templates counted: the start config's, then those reloads add, in slots
  // [0, template_count_). A slot's name is written once, before the count that publishes
  // it; its info may change, under templates_mu_.
  struct TemplateSlot {
    std::string name;
    TemplateInfo info;
  };
  size_t template_capacity_ = 0;
  std::unique_ptr<TemplateSlot[]> templates_;
  std::atomic<size_t> template_count_{0};
  mutable std::mutex templates_mu_;
  std::unique_ptr<std::atomic<uint32_t>[]> cells_;
  // Answers counted this cut per hashed (network, region, template); a random seed, so a
  // sender cannot choose to share a slot with someone else's network.
  static constexpr size_t kWeightSlots = size_t{1} << 16;
  uint32_t cap_ = 0;  // 0: no cap
  uint64_t seed_ = 0;
  std::unique_ptr<std::atomic<uint32_t>[]> weights_;
  std::atomic<uint64_t> capped_total_{0};
  ServiceTimeMeter* service_times_ = nullptr;
  Tap tap_;
  int64_t last_cut_ms_ = 0;
  std::atomic<uint64_t> events_total_{0};

  struct PendingContent {
    uint64_t requests = 0;
    uint64_t size_bytes = 0;
  };
  std::mutex content_mu_;
  // (region index, template index, content id) -> counts; guarded by content_mu_.
  std::map<std::tuple<int, int, std::string>, PendingContent> pending_content_;
  std::atomic<uint64_t> content_refused_{0};

  mutable std::mutex mu_;
  std::deque<v1::RequestEventBatch> backlog_;        // guarded by mu_
  std::vector<std::shared_ptr<Subscription>> subs_;  // guarded by mu_
  static constexpr size_t kSubscriberQueue = 600;

  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace prewarm::orchestrator
