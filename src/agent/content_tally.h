// Per-content request counts an agent gathers from its instances' content reports
// (workload/content_report.h) between two statuses to the orchestrator. Bounded: a tally
// holds at most `max_ids` distinct ids; a report of a new id beyond that is refused (the
// caller counts it), so a workload reporting random ids cannot grow the agent.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace prewarm::agent {

struct ContentCount {
  uint64_t count = 0;
  uint64_t last_bytes = 0;  // the content's size in its latest report
};

class ContentTally {
 public:
  explicit ContentTally(size_t max_ids) : max_ids_(max_ids) {}
  // Adds `count` requests of `id`, `bytes` its size; false (nothing added) when `id` is
  // new and the tally is full.
  bool Add(const std::string& id, uint64_t count, uint64_t bytes);
  // The `n` most requested ids, most first (ties by id), and forgets everything.
  std::vector<std::pair<std::string, ContentCount>> TakeTop(size_t n);
  size_t size() const { return counts_.size(); }
  bool empty() const { return counts_.empty(); }

 private:
  size_t max_ids_;
  std::unordered_map<std::string, ContentCount> counts_;
};

}  // namespace prewarm::agent
