#include "agent/content_tally.h"

#include <algorithm>

namespace prewarm::agent {

bool ContentTally::Add(const std::string& id, uint64_t count, uint64_t bytes) {
  auto it = counts_.find(id);
  if (it == counts_.end()) {
    if (counts_.size() >= max_ids_) return false;
    it = counts_.emplace(id, ContentCount{}).first;
  }
  it->second.count += count;
  it->second.last_bytes = bytes;
  return true;
}

std::vector<std::pair<std::string, ContentCount>> ContentTally::TakeTop(size_t n) {
  std::vector<std::pair<std::string, ContentCount>> all(counts_.begin(), counts_.end());
  counts_.clear();
  auto more = [](const auto& a, const auto& b) {
    return a.second.count != b.second.count ? a.second.count > b.second.count : a.first < b.first;
  };
  if (all.size() > n) {
    std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(n), all.end(), more);
    all.resize(n);
  } else {
    std::sort(all.begin(), all.end(), more);
  }
  return all;
}

}  // namespace prewarm::agent
