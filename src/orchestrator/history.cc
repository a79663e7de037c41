#include "orchestrator/history.h"

#include <algorithm>
#include <fstream>
#include <set>

#include "fmt/format.h"
#include "nlohmann/json.hpp"
#include "prewarm/v1/state_name.h"

namespace prewarm::orchestrator {
namespace {

using nlohmann::json;

bool Live(const std::string& state) { return state != "gone" && state != "failed"; }

// A report's "inst" is a list of [id, addr, state] strings; nothing else is read.
bool ValidReport(const json& j) {
  if (!j.contains("inst") || !j.at("inst").is_array() || !j.value("node", json()).is_string()) {
    return false;
  }
  for (const auto& i : j.at("inst")) {
    if (!i.is_array() || i.size() != 3) return false;
    for (const auto& part : i) {
      if (!part.is_string()) return false;
    }
  }
  return true;
}

bool ValidAnswer(const json& j) {
  return j.value("inst", json()).is_string() && j.value("r", json()).is_string() &&
         j.value("addr", json()).is_string();
}

struct Event {
  int64_t t = 0;
  json j;
};

struct Held {
  std::string id;
  std::string node;
};

class Checker {
 public:
  explicit Checker(int64_t allowance_ms) : allowance_ms_(allowance_ms) {}

  void Report(const Event& e) {
    ++out_.reports;
    const std::string node = e.j.value("node", "");
    std::map<std::string, std::string> now;  // id -> addr, the live ones
    for (const auto& i : e.j.at("inst")) {
      if (Live(i.at(2).get<std::string>())) now[i.at(0)] = i.at(1);
    }
    auto& live = live_[node];
    for (const auto& [id, addr] : live) {
      if (!now.contains(id)) End(id, addr, e.t);
    }
    for (const auto& [id, addr] : now) {
      if (live.contains(id)) continue;
      if (!seen_.insert(id).second && ended_.contains(id)) {
        Violate(e.t, fmt::format("instance {} runs again after it ended", id));
      }
      auto held = holder_.find(addr);
      if (held != holder_.end() && held->second.id != id) {
        Violate(e.t, fmt::format("address {} held by {} (on {}) and {} (on {}) at once", addr,
                                 held->second.id, held->second.node, id, node));
      }
      holder_[addr] = {id, node};
    }
    live = std::move(now);
  }

  void Answer(const Event& e) {
    ++out_.answers;
    const std::string id = e.j.value("inst", "");
    auto end = ended_.find(id);
    if (end == ended_.end() || e.t <= end->second) return;
    if (e.t <= end->second + allowance_ms_) {
      ++out_.answers_within_allowance;
      return;
    }
    Violate(e.t, fmt::format("replica {} answered {} ({}) {} ms after it ended", e.j.value("r", ""),
                             id, e.j.value("addr", ""), e.t - end->second));
  }

  HistoryCheck Done() {
    out_.instances = seen_.size();
    return std::move(out_);
  }

 private:
  void End(const std::string& id, const std::string& addr, int64_t t) {
    ended_[id] = t;
    auto held = holder_.find(addr);
    if (held != holder_.end() && held->second.id == id) holder_.erase(held);
  }
  void Violate(int64_t t, std::string what) {
    ++out_.violation_count;
    if (out_.violations.size() < 100) out_.violations.push_back(fmt::format("t={} {}", t, what));
  }

  const int64_t allowance_ms_;
  std::map<std::string, std::map<std::string, std::string>> live_;  // node -> id -> addr
  std::map<std::string, Held> holder_;                              // addr -> live holder
  std::map<std::string, int64_t> ended_;
  std::set<std::string> seen_;
  HistoryCheck out_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<HistoryRecorder>> HistoryRecorder::Open(const std::string& path,
                                                                       std::string replica,
                                                                       const Clock& clock) {
  std::FILE* f = std::fopen(path.c_str(), "a");
  if (f == nullptr) return ErrnoStatus(errno, fmt::format("history log {}", path));
  return std::unique_ptr<HistoryRecorder>(new HistoryRecorder(f, std::move(replica), clock));
}

HistoryRecorder::~HistoryRecorder() { std::fclose(file_); }

void HistoryRecorder::Write(const std::string& line) {
  std::fwrite(line.data(), 1, line.size(), file_);
  std::fputc('\n', file_);
  std::fflush(file_);
}

void HistoryRecorder::Answer(const std::string& instance, const IpAddr& addr) {
  json j = {{"t", clock_.NowMs()},
            {"r", replica_},
            {"k", "answer"},
            {"inst", instance},
            {"addr", addr.ToString()}};
  std::lock_guard<std::mutex> l(mu_);
  Write(j.dump());
}

void HistoryRecorder::Report(const v1::NodeStatus& status) {
  json inst = json::array();
  for (const auto& i : status.instances()) {
    inst.push_back({i.instance_id(), i.address(), v1::StateName(i.state())});
  }
  std::string body = inst.dump();
  std::lock_guard<std::mutex> l(mu_);
  auto& last = last_report_[status.node_id()];
  if (last == body) return;
  last = body;
  json j = {{"t", clock_.NowMs()},
            {"r", replica_},
            {"k", "report"},
            {"node", status.node_id()},
            {"inst", std::move(inst)}};
  Write(j.dump());
}

absl::StatusOr<HistoryCheck> CheckHistory(const std::vector<std::string>& files,
                                          int64_t allowance_ms) {
  std::vector<Event> events;
  for (const std::string& path : files) {
    std::ifstream in(path);
    if (!in) return absl::NotFoundError(fmt::format("history: cannot read {}", path));
    std::string line;
    for (int n = 1; std::getline(in, line); ++n) {
      if (line.empty()) continue;
      json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (j.is_discarded() || !j.is_object() || !j.value("t", json()).is_number_integer() ||
          !j.value("k", json()).is_string()) {
        return absl::InvalidArgumentError(
            fmt::format("history: {}:{}: not a history record", path, n));
      }
      events.push_back({j.at("t").get<int64_t>(), std::move(j)});
    }
  }
  // Reports before answers at the same millisecond: an answer that ties with the end is
  // not after it.
  std::stable_sort(events.begin(), events.end(),
                   [](const Event& a, const Event& b) { return a.t < b.t; });
  Checker checker(allowance_ms);
  for (const Event& e : events) {
    const std::string kind = e.j.at("k");
    if (kind == "report") {
      if (!ValidReport(e.j)) {
        return absl::InvalidArgumentError(
            fmt::format("history: a malformed report: {}", e.j.dump()));
      }
      checker.Report(e);
    } else if (kind == "answer") {
      if (!ValidAnswer(e.j)) {
        return absl::InvalidArgumentError(
            fmt::format("history: a malformed answer: {}", e.j.dump()));
      }
      checker.Answer(e);
    }
  }
  return checker.Done();
}

}  // namespace prewarm::orchestrator
