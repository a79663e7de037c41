// FakeRuntime: a Runtime that behaves like a real one without containers. Start() serves
// HTTP on the passed listening socket from an in-process thread (files from the scratch
// dir's content/ tree, "/" being index.html; /healthz always answers 200) and reports each
// request on a real content-report socket, so the agent's preload, readiness, exit and
// report handling are exercised for real. Used by the agent's unit tests; the
// simulator has its own virtual-time runtime.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "agent/runtime.h"

namespace prewarm::agent {

class FakeInstance;

class FakeRuntime final : public Runtime {
 public:
  explicit FakeRuntime(std::string root_dir, uint64_t output_bytes = kDefaultOutputBytes)
      : root_(std::move(root_dir)), output_bytes_(output_bytes) {}
  std::string name() const override { return "fake"; }
  absl::StatusOr<std::unique_ptr<RuntimeInstance>> Create(const InstanceSpec& spec) override;
  absl::Status CleanupStale() override { return absl::OkStatus(); }
  RuntimeReserve Reserve() const override { return reserve_; }
  void set_reserve(RuntimeReserve r) { reserve_ = r; }  // what Reserve() reports

  // Makes the next Create() fail (a runtime that cannot start instances).
  void FailNextCreate() { fail_next_.store(true); }
  // The workload of instance `id` dies (as if its process were killed).
  bool Kill(const std::string& id);
  // The workload of instance `id` writes `data` to its stdout (kept as a runtime keeps it:
  // within output_bytes; it writes an access-log line per request itself).
  absl::Status Write(const std::string& id, std::string_view data);
  // What the relay in front of instance `id` reports from now on (RuntimeInstance::Relayed).
  bool SetRelayed(const std::string& id, const RelayCounts& counts);
  int live() const { return live_.load(); }
  // Instance id -> InstanceSpec::slot of the live instances. Create() refuses a slot a
  // live instance holds, as the oci runtime does.
  std::map<std::string, uint32_t> LiveSlots();
  // The content-report socket of the instance whose scratch dir is `dir` (its workload
  // reports every GET but /healthz there, as prewarm-httpd does).
  static std::string ReportPath(const std::string& dir) { return dir + "/report.sock"; }

 private:
  RuntimeReserve reserve_;
  friend class FakeInstance;
  std::mutex mu_;
  std::map<std::string, FakeInstance*> instances_;
  std::string root_;
  const uint64_t output_bytes_;
  std::atomic<bool> fail_next_{false};
  std::atomic<int> live_{0};
};

}  // namespace prewarm::agent
