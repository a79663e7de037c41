#include "agent/preloaded.h"

#include <tuple>

namespace prewarm::agent {

void PreloadedContent::Add(const std::string& id, uint64_t bytes, int64_t now_ms) {
  Remove(id);
  entries_[id] = Entry{bytes, now_ms, 0};
  bytes_ += bytes;
}

bool PreloadedContent::Hit(const std::string& id, uint64_t count) {
  auto it = entries_.find(id);
  if (it == entries_.end()) return false;
  it->second.hits += count;
  return true;
}

void PreloadedContent::Remove(const std::string& id) {
  auto it = entries_.find(id);
  if (it == entries_.end()) return;
  bytes_ -= it->second.bytes;
  entries_.erase(it);
}

std::optional<std::string> PreloadedContent::Coldest(const std::set<std::string>& keep) const {
  const std::string* best = nullptr;
  const Entry* best_entry = nullptr;
  for (const auto& [id, e] : entries_) {
    if (keep.contains(id)) continue;
    // entries_ is ordered by id: on a tie the first one seen (the lowest id) stays.
    if (best_entry == nullptr ||
        std::tie(e.hits, e.fetched_ms) < std::tie(best_entry->hits, best_entry->fetched_ms)) {
      best = &id;
      best_entry = &e;
    }
  }
  if (best == nullptr) return std::nullopt;
  return *best;
}

uint64_t PreloadedContent::hits(const std::string& id) const {
  auto it = entries_.find(id);
  return it == entries_.end() ? 0 : it->second.hits;
}

}  // namespace prewarm::agent
