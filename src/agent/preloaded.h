// The content preloaded into one instance's scratch directory (issue 17): per content id
// its size, when it was fetched and the served requests its instance reported for it
// since. The agent's loop thread owns one per instance; a report of a held id is a
// preload hit.
//
// Eviction ("replacing cold entries"): when an instance is given a new list (the
// forecaster's top-K changed) and holding it would exceed the template's scratch size,
// the agent evicts entries outside `keep` (the new list and the template's own list), the
// least hit first, then the oldest fetched, then by id, until it fits (Coldest).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>

namespace prewarm::agent {

class PreloadedContent {
 public:
  // Records `id` as held (`bytes` on disk, fetched at `now_ms`); a held id is replaced,
  // its hits forgotten (a new copy).
  void Add(const std::string& id, uint64_t bytes, int64_t now_ms);
  // `count` served requests of `id`; false when `id` is not held (not a preload hit).
  bool Hit(const std::string& id, uint64_t count);
  bool Holds(const std::string& id) const { return entries_.contains(id); }
  void Remove(const std::string& id);
  // The entry to evict first: outside `keep`, the fewest hits, then the oldest, then the
  // lowest id. nullopt when every held entry is in `keep`.
  std::optional<std::string> Coldest(const std::set<std::string>& keep) const;
  uint64_t bytes() const { return bytes_; }
  size_t size() const { return entries_.size(); }
  uint64_t hits(const std::string& id) const;

 private:
  struct Entry {
    uint64_t bytes = 0;
    int64_t fetched_ms = 0;
    uint64_t hits = 0;
  };
  std::map<std::string, Entry> entries_;
  uint64_t bytes_ = 0;
};

}  // namespace prewarm::agent
