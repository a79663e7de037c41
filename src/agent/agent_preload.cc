// Agent: preloading content into instances (see agent.h, "Preload" and "PreloadContent").
// Cold starts fetch on their start worker; warm preloads on "agent-preload", whose results
// the loop applies.
#include <pthread.h>

#include <algorithm>

#include "agent/agent.h"
#include "common/logging.h"
#include "fmt/format.h"
#include "fmt/ranges.h"

namespace prewarm::agent {
namespace {

std::string JoinIds(const std::vector<std::string>& ids) {
  return fmt::format("{}", fmt::join(ids, ", "));
}

void Append(std::vector<std::string>& to, std::vector<std::string>&& from) {
  to.insert(to.end(), std::make_move_iterator(from.begin()), std::make_move_iterator(from.end()));
}

}  // namespace

std::string Agent::PreloadOutcome::Describe() const {
  std::vector<std::string> parts;
  if (!missing.empty()) parts.push_back(fmt::format("not at the origin: {}", JoinIds(missing)));
  if (!no_room.empty()) {
    parts.push_back(fmt::format("no room in the scratch ({}): {}", no_room_why, JoinIds(no_room)));
  }
  if (!skipped.empty()) {
    parts.push_back(fmt::format("not preloaded ({}): {}", skipped_why, JoinIds(skipped)));
  }
  return fmt::format("{}", fmt::join(parts, "; "));
}

void Agent::PreloadOutcome::Merge(PreloadOutcome o) {
  fetched.insert(fetched.end(), o.fetched.begin(), o.fetched.end());
  Append(missing, std::move(o.missing));
  Append(no_room, std::move(o.no_room));
  if (!o.no_room_why.empty()) no_room_why = std::move(o.no_room_why);
  Append(skipped, std::move(o.skipped));
  if (!o.skipped_why.empty()) skipped_why = std::move(o.skipped_why);
  not_tried = std::move(o.not_tried);
  full = std::move(o.full);
}

Agent::PreloadOutcome Agent::FetchList(const std::vector<std::string>& ids, int dir_fd,
                                       uint64_t room, const std::atomic<bool>* cancel) {
  PreloadOutcome out;
  bool give_up = false;  // the origin is down or too slow: not worth a timeout per id
  for (size_t i = 0; i < ids.size(); ++i) {
    const std::string& id = ids[i];
    if (give_up) {
      out.skipped.push_back(id);
      continue;
    }
    FetchLimits limits{room, config_.preload_fetch_timeout_ms, cancel};
    absl::StatusOr<uint64_t> got = origin_.FetchTo(id, dir_fd, limits);
    if (got.ok()) {
      out.fetched.emplace_back(id, *got);
      room -= std::min(room, *got);
    } else if (absl::IsNotFound(got.status())) {
      out.missing.push_back(id);
    } else if (absl::IsResourceExhausted(got.status())) {
      out.not_tried.assign(ids.begin() + static_cast<std::ptrdiff_t>(i), ids.end());
      out.full = got.status();
      return out;
    } else {
      out.skipped.push_back(id);
      const absl::Status& st = got.status();
      give_up = absl::IsUnavailable(st) || absl::IsDeadlineExceeded(st) || absl::IsCancelled(st);
      out.skipped_why = absl::IsUnavailable(st)
                            ? fmt::format("origin unreachable: {}", st.message())
                            : std::string(st.message());
    }
  }
  return out;
}

Agent::PreloadOutcome Agent::Preload(RuntimeInstance& rt, const std::vector<std::string>& content,
                                     uint64_t budget) {
  PreloadOutcome out;
  absl::StatusOr<ScopedFd> dir = OpenContentDir(rt.scratch_dir(), "content");
  if (!dir.ok()) {
    out.skipped = content;
    out.skipped_why = std::string(dir.status().message());
    return out;
  }
  // Nothing to evict in a new instance: an id that does not fit gets no room, the rest
  // are tried.
  std::vector<std::string> ids = content;
  while (!ids.empty()) {
    uint64_t used = 0;
    for (const auto& [id, bytes] : out.fetched) used += bytes;
    out.Merge(FetchList(ids, dir->get(), budget - std::min(budget, used), nullptr));
    if (out.not_tried.empty()) break;
    out.no_room.push_back(out.not_tried.front());
    out.no_room_why = std::string(out.full.message());
    ids.assign(out.not_tried.begin() + 1, out.not_tried.end());
  }
  out.not_tried.clear();
  return out;
}

void Agent::OnPreload(const v1::PreloadContent& p) {
  auto it = instances_.find(p.instance_id());
  if (it == instances_.end() || !it->second.runtime ||
      it->second.state != v1::INSTANCE_STATE_READY) {
    return;
  }
  Instance& inst = it->second;
  // One run per instance at a time: a list that arrives meanwhile waits, merged with any
  // other waiting one.
  v1::PreloadContent& w =
      inst.preload_waiting ? *inst.preload_waiting : inst.preload_waiting.emplace();
  w.set_instance_id(p.instance_id());
  // The newest whole list is the one to keep; older waiting ids outside it are dropped.
  const auto& current =
      p.current_content_ids_size() > 0 ? p.current_content_ids() : p.content_ids();
  const std::set<std::string> listed(current.begin(), current.end());
  std::vector<std::string> ids;
  for (const std::string& id : w.content_ids()) {
    if (listed.contains(id)) ids.push_back(id);
  }
  std::set<std::string> have(ids.begin(), ids.end());
  size_t refused = 0;
  for (const std::string& id : p.content_ids()) {
    if (have.contains(id)) continue;
    if (have.size() >= kMaxPreloadIds) {
      ++refused;
      continue;
    }
    have.insert(id);
    ids.push_back(id);
  }
  *w.mutable_current_content_ids() = current;
  w.mutable_content_ids()->Assign(ids.begin(), ids.end());
  if (refused > 0) {
    spdlog::warn("instance {}: {} content ids over the {} a preload takes; refused", inst.id,
                 refused, kMaxPreloadIds);
    std::lock_guard<std::mutex> l(metrics_mu_);
    counters_[inst.tmpl].preload_skipped += refused;
  }
  if (!inst.preload_run) StartWaitingRun(inst);
}

void Agent::StartWaitingRun(Instance& inst) {
  if (!inst.preload_waiting) return;
  v1::PreloadContent next = *std::move(inst.preload_waiting);
  inst.preload_waiting.reset();
  StartPreloadRun(inst, next);
}

void Agent::StartPreloadRun(Instance& inst, const v1::PreloadContent& p) {
  // What the instance is to hold: the template's own list and the whole new one. The rest
  // of what it holds may make room.
  const AgentTemplate& tmpl = templates_.at(inst.tmpl);
  PreloadRun run;
  run.keep.insert(tmpl.preload.begin(), tmpl.preload.end());
  const auto& current =
      p.current_content_ids_size() > 0 ? p.current_content_ids() : p.content_ids();
  for (const std::string& id : current) {
    if (ValidateContentId(id).ok()) run.keep.insert(id);
  }
  std::vector<std::string> content;
  for (const std::string& id : p.content_ids()) {
    absl::Status st = ValidateContentId(id);
    if (!st.ok()) {
      spdlog::warn("instance {}: preload refused: {}", inst.id, st.message());
    } else if (!inst.preloaded.Holds(id) &&
               std::find(content.begin(), content.end(), id) == content.end()) {
      content.push_back(id);
    }
  }
  if (content.empty()) return;
  absl::StatusOr<ScopedFd> dir = OpenContentDir(inst.runtime->scratch_dir(), "content");
  if (!dir.ok()) {
    run.out.skipped = content;
    run.out.skipped_why = std::string(dir.status().message());
    inst.preload_run = std::move(run);
    return FinishPreloadRun(inst);
  }
  run.dir = std::make_shared<const ScopedFd>(*std::move(dir));
  run.cancel = std::make_shared<std::atomic<bool>>(false);
  inst.preload_run = std::move(run);
  SubmitFetch(inst, std::move(content));
}

void Agent::SubmitFetch(const Instance& inst, std::vector<std::string> ids) {
  const uint64_t budget = templates_.at(inst.tmpl).spec.scratch_bytes;
  FetchJob job{inst.id,
               inst.incarnation,
               std::move(ids),
               budget - std::min(budget, inst.preloaded.bytes()),
               inst.preload_run->dir,
               inst.preload_run->cancel};
  std::lock_guard<std::mutex> l(fetch_mu_);
  fetch_queue_.push_back(std::move(job));
  fetch_cv_.notify_all();
}

// "agent-preload": one job at a time, in order; each result goes to the loop.
void Agent::FetchLoop() {
  pthread_setname_np(pthread_self(), "agent-preload");
  for (;;) {
    FetchJob job;
    {
      std::unique_lock<std::mutex> l(fetch_mu_);
      fetch_busy_ = false;
      fetch_cv_.wait(l, [&] { return fetch_stopping_ || !fetch_queue_.empty(); });
      if (fetch_stopping_) return;
      job = std::move(fetch_queue_.front());
      fetch_queue_.pop_front();
      fetch_busy_ = true;
    }
    PreloadOutcome out = FetchList(job.ids, job.dir->get(), job.room, job.cancel.get());
    PostEvent(PreloadResult{job.instance, job.incarnation, std::move(out)});
  }
}

void Agent::Handle(PreloadResult r) {
  auto it = instances_.find(r.instance);
  // Destroyed meanwhile (its run was cancelled), or another instance of that id now.
  if (it == instances_.end() || it->second.incarnation != r.incarnation ||
      !it->second.preload_run) {
    return;
  }
  Instance& inst = it->second;
  PreloadRun& run = *inst.preload_run;
  for (const auto& [id, bytes] : r.out.fetched) inst.preloaded.Add(id, bytes, clock_.NowMs());
  SyncScratchBytes(inst);
  std::vector<std::string> rest = r.out.not_tried;
  run.out.Merge(std::move(r.out));
  if (!rest.empty() && !EvictColdest(inst, run.keep)) {
    // Nothing left to evict: this one gets no room; the ones after it may be smaller.
    run.out.no_room.push_back(rest.front());
    run.out.no_room_why = std::string(run.out.full.message());
    rest.erase(rest.begin());
  }
  if (rest.empty()) return FinishPreloadRun(inst);
  SubmitFetch(inst, std::move(rest));
}

void Agent::FinishPreloadRun(Instance& inst) {
  PreloadOutcome out = std::move(inst.preload_run->out);
  inst.preload_run.reset();
  CountPreload(inst.tmpl, out);
  if (std::string d = out.Describe(); !d.empty()) spdlog::warn("instance {}: {}", inst.id, d);
  std::vector<std::string>& missing = inst.preload_missing;
  for (std::string& id : out.missing) {
    if (std::find(missing.begin(), missing.end(), id) == missing.end()) missing.push_back(id);
  }
  changed_ = true;
  StartWaitingRun(inst);
}

bool Agent::EvictColdest(Instance& inst, const std::set<std::string>& keep) {
  std::optional<std::string> victim = inst.preloaded.Coldest(keep);
  if (victim) Evict(inst, *victim);
  return victim.has_value();
}

void Agent::Evict(Instance& inst, const std::string& id) {
  absl::StatusOr<ScopedFd> dir = OpenContentDir(inst.runtime->scratch_dir(), "content");
  absl::Status st = dir.ok() ? RemoveContent(dir->get(), id) : dir.status();
  if (!st.ok()) spdlog::warn("instance {}: evicting {}: {}", inst.id, id, st.message());
  spdlog::debug("instance {}: evicted {} ({} hits)", inst.id, id, inst.preloaded.hits(id));
  inst.preloaded.Remove(id);
  SyncScratchBytes(inst);
  std::lock_guard<std::mutex> l(metrics_mu_);
  ++counters_[inst.tmpl].preload_evicted;
}

void Agent::SyncScratchBytes(Instance& inst) {
  const uint64_t now = inst.preloaded.bytes();
  if (now == inst.counted_scratch_bytes) return;
  std::lock_guard<std::mutex> l(metrics_mu_);
  uint64_t& gauge = counters_[inst.tmpl].preload_scratch_bytes;
  gauge = gauge + now - inst.counted_scratch_bytes;  // unsigned: wraps back into range
  inst.counted_scratch_bytes = now;
}

void Agent::CountPreload(const std::string& tmpl, const PreloadOutcome& out) {
  std::lock_guard<std::mutex> l(metrics_mu_);
  TemplateCounters& c = counters_[tmpl];
  c.preload_missing += out.missing.size();
  c.preload_no_room += out.no_room.size();
  c.preload_skipped += out.skipped.size();
  c.preload_fetched += out.fetched.size();
  for (const auto& [id, bytes] : out.fetched) c.preload_fetched_bytes += bytes;
}

}  // namespace prewarm::agent
