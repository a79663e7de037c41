// History: what a cluster did, recorded for checking, and the checker.
//
// With `cluster.history_log: FILE`, a replica appends one JSON object per line:
//   {"t":ms,"r":replica,"k":"answer","inst":id,"addr":a}       every DNS answer naming an instance
//   {"t":ms,"r":replica,"k":"report","node":n,"inst":[[id,addr,state],...]}
//                                                              an agent's report, when what it
//                                                              runs (or their states) changed
// The agents are the truth about what runs: each report lists everything on its node.
//
// CheckHistory merges the files of every replica by time and checks two invariants:
//   1. no answer names an instance after its agent reported it GONE or FAILED (or stopped
//      listing it), allowing `allowance_ms` for the news to reach the answering replica;
//   2. no address is held by two live instances at once.
// A test run on one machine shares one clock, so the order of events is the real one.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/net.h"
#include "prewarm/v1/agent.pb.h"

namespace prewarm::orchestrator {

class HistoryRecorder {
 public:
  static absl::StatusOr<std::unique_ptr<HistoryRecorder>> Open(const std::string& path,
                                                               std::string replica,
                                                               const Clock& clock);
  ~HistoryRecorder();

  // A DNS answer naming `instance` at `addr` (DNS threads).
  void Answer(const std::string& instance, const IpAddr& addr);
  // An agent's report (its stream's thread); written when it differs from the last one.
  void Report(const v1::NodeStatus& status);

 private:
  HistoryRecorder(std::FILE* f, std::string replica, const Clock& clock)
      : file_(f), replica_(std::move(replica)), clock_(clock) {}
  void Write(const std::string& line);

  std::FILE* file_;
  const std::string replica_;
  const Clock& clock_;
  std::mutex mu_;
  std::map<std::string, std::string> last_report_;  // node -> its last written report; mu_
};

struct HistoryCheck {
  uint64_t answers = 0;
  uint64_t reports = 0;
  uint64_t instances = 0;
  uint64_t answers_within_allowance = 0;  // after the end, but within allowance_ms
  std::vector<std::string> violations;    // at most 100 listed; `violation_count` has all
  uint64_t violation_count = 0;
};

absl::StatusOr<HistoryCheck> CheckHistory(const std::vector<std::string>& files,
                                          int64_t allowance_ms);

}  // namespace prewarm::orchestrator
