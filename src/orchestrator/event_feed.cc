#include "orchestrator/event_feed.h"

#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <random>

#include "common/content_id.h"
#include "dns/answerer.h"
#include "fmt/format.h"

namespace prewarm::orchestrator {
namespace {

uint64_t SplitMix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace

EventFeed::EventFeed(const OrchestratorConfig& config, const Clock& clock)
    : config_(config), clock_(clock) {
  for (const auto& r : config.regions) regions_.push_back(r.name);
  template_capacity_ = config.templates.size() + kSpareTemplates;
  templates_ = std::make_unique<TemplateSlot[]>(template_capacity_);
  size_t n = 0;
  for (const auto& [name, info] : config.templates) templates_[n++] = TemplateSlot{name, info};
  template_count_.store(n, std::memory_order_release);
  cells_ = std::make_unique<std::atomic<uint32_t>[]>(
      std::max<size_t>(1, regions_.size() * template_capacity_ * 2));
  cap_ = config.max_events_per_network_per_s;
  seed_ = std::random_device{}();
  seed_ = (seed_ << 32) ^ std::random_device{}();
  weights_ = std::make_unique<std::atomic<uint32_t>[]>(kWeightSlots);
  last_cut_ms_ = clock_.NowMs() / 1000 * 1000;
}

EventFeed::~EventFeed() { Stop(); }

size_t EventFeed::WeightSlot(int region, int tmpl, const IpAddr& sender) const {
  const IpAddr net = dns::ClientNetwork(sender);
  uint64_t h = seed_ ^ (static_cast<uint64_t>(region) << 48) ^ (static_cast<uint64_t>(tmpl) << 32);
  for (size_t i = 0; i < net.size(); ++i) h = SplitMix(h ^ net.bytes()[i]);
  return static_cast<size_t>(SplitMix(h ^ static_cast<uint64_t>(net.family()))) &
         (kWeightSlots - 1);
}

int EventFeed::RegionIndex(std::string_view region) const {
  auto it = std::find(regions_.begin(), regions_.end(), region);
  return it == regions_.end() ? -1 : static_cast<int>(it - regions_.begin());
}

int EventFeed::TemplateIndex(std::string_view tmpl) const {
  const size_t n = template_count_.load(std::memory_order_acquire);
  for (size_t t = 0; t < n; ++t) {
    if (templates_[t].name == tmpl) return static_cast<int>(t);
  }
  return -1;
}

absl::StatusOr<int> EventFeed::AddTemplate(const std::string& name, const TemplateInfo& info) {
  std::lock_guard<std::mutex> l(templates_mu_);
  const size_t n = template_count_.load(std::memory_order_relaxed);
  for (size_t t = 0; t < n; ++t) {
    if (templates_[t].name == name) {
      templates_[t].info = info;
      return static_cast<int>(t);
    }
  }
  if (n == template_capacity_) {
    return absl::ResourceExhaustedError(fmt::format(
        "template {}: its demand is not counted for the forecaster until a restart (the {} "
        "templates a running orchestrator can add are taken)",
        name, kSpareTemplates));
  }
  templates_[n] = TemplateSlot{name, info};
  template_count_.store(n + 1, std::memory_order_release);
  return static_cast<int>(n);
}

void EventFeed::AddContent(const std::string& region,
                           const google::protobuf::RepeatedPtrField<v1::ContentServed>& content) {
  const int r = RegionIndex(region);
  uint64_t refused = 0;
  {
    std::lock_guard<std::mutex> l(content_mu_);
    for (const v1::ContentServed& c : content) {
      const int t = TemplateIndex(c.template_name());
      if (r < 0 || t < 0 || c.requests() == 0 || !ValidateContentId(c.content_id()).ok()) {
        ++refused;
        continue;
      }
      auto key = std::make_tuple(r, t, c.content_id());
      auto it = pending_content_.find(key);
      if (it == pending_content_.end()) {
        if (pending_content_.size() >= kMaxPendingContents) {
          ++refused;
          continue;
        }
        it = pending_content_.emplace(std::move(key), PendingContent{}).first;
      }
      it->second.requests += c.requests();
      it->second.size_bytes = c.size_bytes();
    }
  }
  if (refused > 0) content_refused_.fetch_add(refused, std::memory_order_relaxed);
}

void EventFeed::CutNow() {
  int64_t now = clock_.NowMs();
  v1::RequestEventBatch batch;
  batch.set_cut_unix_ms(now);
  // The content counts first: every template they name is then among those copied below.
  std::map<std::tuple<int, int, std::string>, PendingContent> content;
  {
    std::lock_guard<std::mutex> l(content_mu_);
    content.swap(pending_content_);
  }
  // The templates counted so far, with what their events carry (answers for one added
  // after this copy stay in their cells for the next cut).
  std::vector<TemplateSlot> templates;
  {
    std::lock_guard<std::mutex> l(templates_mu_);
    const size_t n = template_count_.load(std::memory_order_relaxed);
    templates.assign(templates_.get(), templates_.get() + n);
  }
  // Per template: the answers of this cut (for the meter) and the service time to send.
  std::vector<uint64_t> answers(templates.size(), 0);
  std::vector<double> service_s(templates.size());
  for (size_t t = 0; t < templates.size(); ++t) {
    service_s[t] = templates[t].info.service_time_s;
    if (service_times_) {
      service_s[t] = service_times_->Get(templates[t].name).value_or(service_s[t]);
    }
  }
  for (size_t r = 0; r < regions_.size(); ++r) {
    for (size_t t = 0; t < templates.size(); ++t) {
      for (bool cold : {false, true}) {
        uint32_t n = cells_[Cell(static_cast<int>(r), static_cast<int>(t), cold)].exchange(
            0, std::memory_order_relaxed);
        if (n == 0) continue;
        const TemplateInfo& info = templates[t].info;
        v1::RequestEvent* e = batch.add_events();
        e->set_unix_ms(last_cut_ms_);
        e->set_region(regions_[r]);
        e->set_template_name(templates[t].name);
        e->set_service_tier(info.tier);
        e->set_service_time_s(service_s[t]);
        answers[t] += n;
        e->set_cold(cold);
        e->set_count(n);
        events_total_.fetch_add(n, std::memory_order_relaxed);
      }
    }
  }
  for (const auto& [key, c] : content) {
    v1::ContentCount* cc = batch.add_contents();
    cc->set_unix_ms(last_cut_ms_);
    cc->set_region(regions_[static_cast<size_t>(std::get<0>(key))]);
    cc->set_template_name(templates[static_cast<size_t>(std::get<1>(key))].name);
    cc->set_content_id(std::get<2>(key));
    cc->set_requests(c.requests);
    cc->set_size_bytes(c.size_bytes);
  }
  last_cut_ms_ = now / 1000 * 1000;
  // Every network's share starts again with the next cut.
  if (cap_ != 0) {
    for (size_t i = 0; i < kWeightSlots; ++i) weights_[i].store(0, std::memory_order_relaxed);
  }
  if (service_times_) {
    for (size_t t = 0; t < templates.size(); ++t) {
      if (answers[t] > 0) service_times_->AddAnswers(templates[t].name, answers[t]);
    }
    service_times_->Roll(now);
  }
  if (batch.events_size() == 0 && batch.contents_size() == 0) return;
  if (tap_) tap_(batch);
  Deliver(batch);
}

void EventFeed::Deliver(const v1::RequestEventBatch& batch) {
  std::lock_guard<std::mutex> l(mu_);
  backlog_.push_back(batch);
  int64_t horizon = batch.cut_unix_ms() - config_.event_retention_ms;
  while (!backlog_.empty() && backlog_.front().cut_unix_ms() < horizon) backlog_.pop_front();
  for (auto& s : subs_) {
    std::lock_guard<std::mutex> sl(s->mu_);
    if (s->queue_.size() >= kSubscriberQueue) {
      s->dropped_ += static_cast<uint64_t>(s->queue_.front().events_size());
      s->queue_.pop_front();
    }
    s->queue_.push_back(batch);
    s->cv_.notify_one();
  }
}

std::shared_ptr<EventFeed::Subscription> EventFeed::Subscribe(int64_t since_unix_ms) {
  auto s = std::make_shared<Subscription>();
  std::lock_guard<std::mutex> l(mu_);
  if (since_unix_ms > 0) {
    for (const auto& b : backlog_) {
      if (b.cut_unix_ms() > since_unix_ms) s->queue_.push_back(b);
    }
  }
  subs_.push_back(s);
  return s;
}

void EventFeed::Unsubscribe(const std::shared_ptr<Subscription>& s) {
  s->Close();
  std::lock_guard<std::mutex> l(mu_);
  subs_.erase(std::remove(subs_.begin(), subs_.end(), s), subs_.end());
}

size_t EventFeed::subscribers() const {
  std::lock_guard<std::mutex> l(mu_);
  return subs_.size();
}

std::optional<v1::RequestEventBatch> EventFeed::Subscription::Next(int timeout_ms) {
  std::unique_lock<std::mutex> l(mu_);
  cv_.wait_for(l, std::chrono::milliseconds(timeout_ms),
               [&] { return closed_ || !queue_.empty(); });
  if (closed_ || queue_.empty()) return std::nullopt;
  v1::RequestEventBatch b = std::move(queue_.front());
  queue_.pop_front();
  b.set_dropped(std::exchange(dropped_, 0));
  return b;
}

void EventFeed::Subscription::Close() {
  std::lock_guard<std::mutex> l(mu_);
  closed_ = true;
  cv_.notify_all();
}

void EventFeed::StartThread() {
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "orch-events");
    while (!stopping_.load()) {
      std::this_thread::sleep_for(
          std::chrono::milliseconds(1000 - RealClock::Get().NowMs() % 1000));
      CutNow();
    }
  });
}

void EventFeed::Stop() {
  if (stopping_.exchange(true)) return;
  if (thread_.joinable()) thread_.join();
  std::lock_guard<std::mutex> l(mu_);
  for (auto& s : subs_) s->Close();
}

}  // namespace prewarm::orchestrator
