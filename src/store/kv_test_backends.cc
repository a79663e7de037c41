#include "store/kv_test_backends.h"

#include <unistd.h>

#include <thread>

#include "common/clock.h"
#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"
#include "fmt/format.h"
#include "grpcpp/grpcpp.h"
#include "store/etcd_kv.h"
#include "store/memory_kv.h"

namespace prewarm::store::testkit {
namespace {

class MemoryBackend final : public Backend {
 public:
  MemoryBackend() : kv_(clock_) {}
  KvStore& kv() override { return kv_; }
  std::string name() const override { return "memory"; }
  int64_t min_lease_ttl_ms() const override { return 1000; }
  void LetTimePass(int64_t ms) override {
    clock_.Advance(ms);
    kv_.ExpireLeases();
  }
  absl::Status Compact(int64_t revision) override { return kv_.Compact(revision); }
  absl::Status Outage() override {
    kv_.SetAvailable(false);
    return absl::OkStatus();
  }
  absl::Status Recover() override {
    kv_.SetAvailable(true);
    return absl::OkStatus();
  }
  absl::Status KillMember(const std::string&) override {
    return absl::UnimplementedError("memory store: no members");
  }
  absl::Status RestartKilledMembers() override { return absl::OkStatus(); }
  bool has_members() const override { return false; }

 private:
  ManualClock clock_;
  MemoryKv kv_;
};

class EtcdBackend final : public Backend {
 public:
  explicit EtcdBackend(EtcdClusterOptions options) : cluster_(std::move(options)) {}

  absl::Status Init() {
    RETURN_IF_ERROR(cluster_.Start());
    EtcdKvOptions options;
    options.endpoints = cluster_.ClientEndpoints();
    options.request_timeout_ms = 5000;
    options.dial_timeout_ms = 1000;
    ASSIGN_OR_RETURN(kv_, EtcdKv::Create(options));
    return absl::OkStatus();
  }

  KvStore& kv() override { return *kv_; }
  std::string name() const override { return "etcd"; }
  int64_t min_lease_ttl_ms() const override { return cluster_.MinLeaseTtlMs(); }
  void LetTimePass(int64_t ms) override { std::this_thread::sleep_for(milliseconds(ms)); }
  absl::Status Compact(int64_t revision) override;
  absl::Status Outage() override {
    for (size_t i = 0; i < cluster_.size(); ++i) {
      RETURN_IF_ERROR(cluster_.Kill(i));
    }
    return absl::OkStatus();
  }
  absl::Status Recover() override { return RestartKilledMembers(); }
  absl::Status KillMember(const std::string& endpoint) override {
    for (size_t i = 0; i < cluster_.size(); ++i) {
      if (cluster_.ClientEndpoint(i) == endpoint) {
        return cluster_.Kill(i);
      }
    }
    return absl::NotFoundError(fmt::format("no member serves {}", endpoint));
  }
  absl::Status RestartKilledMembers() override {
    for (size_t i = 0; i < cluster_.size(); ++i) {
      if (!cluster_.Running(i)) {
        RETURN_IF_ERROR(cluster_.Restart(i));
      }
    }
    return absl::OkStatus();
  }
  bool has_members() const override { return true; }

 private:
  EtcdCluster cluster_;
  std::unique_ptr<EtcdKv> kv_;
};

// The test's own Compact RPC (KvStore has none: compaction is an operator's decision).
absl::Status EtcdBackend::Compact(int64_t revision) {
  grpc::Status last;
  for (const std::string& endpoint : cluster_.ClientEndpoints()) {
    auto stub = etcdserverpb::KV::NewStub(
        grpc::CreateChannel(endpoint, grpc::InsecureChannelCredentials()));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + milliseconds(5000));
    etcdserverpb::CompactionRequest request;
    request.set_revision(revision);
    request.set_physical(true);
    etcdserverpb::CompactionResponse response;
    last = stub->Compact(&ctx, request, &response);
    if (last.ok()) {
      return absl::OkStatus();
    }
  }
  return absl::UnavailableError(fmt::format("Compact: {}", last.error_message()));
}

}  // namespace

std::unique_ptr<Backend> MakeMemoryBackend() { return std::make_unique<MemoryBackend>(); }

absl::StatusOr<std::unique_ptr<Backend>> MakeEtcdBackend() {
  auto backend = std::make_unique<EtcdBackend>(TestClusterOptions());
  RETURN_IF_ERROR(backend->Init());
  return std::unique_ptr<Backend>(std::move(backend));
}

bool HaveEtcd() { return ::access("/usr/bin/etcd", X_OK) == 0; }

EtcdClusterOptions TestClusterOptions(int members, int first_host) {
  return ProcessLocalClusterOptions(members, first_host);
}

bool Eventually(const std::function<bool()>& done, milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (done()) {
      return true;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return false;
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
}

int64_t PutEventually(KvStore& kv, const std::string& key, const std::string& value,
                      milliseconds timeout) {
  int64_t revision = -1;
  Eventually(
      [&] {
        absl::StatusOr<int64_t> put = kv.Put(key, value, 0, 2000);
        if (put.ok()) {
          revision = *put;
        }
        if (put.ok() || absl::IsUnavailable(put.status())) {
          return put.ok();
        }
        absl::StatusOr<RangeResult> got = kv.Get(key, false, 2000);
        bool applied = got.ok() && !got->kvs.empty() && got->kvs[0].value == value;
        if (applied) {
          revision = got->kvs[0].mod_revision;
        }
        return applied;
      },
      timeout);
  return revision;
}

WatchSink WatchRecorder::Sink() {
  return [this](const WatchBatch& batch) {
    absl::MutexLock lock(&mu_);
    batches_.push_back(batch);
  };
}

std::vector<WatchBatch> WatchRecorder::batches() const {
  absl::MutexLock lock(&mu_);
  return batches_;
}

std::vector<WatchEvent> WatchRecorder::events() const {
  std::vector<WatchEvent> out;
  for (const WatchBatch& b : batches()) {
    out.insert(out.end(), b.events.begin(), b.events.end());
  }
  return out;
}

bool WatchRecorder::WaitForEvents(size_t n, milliseconds timeout) const {
  return Eventually([&] { return events().size() >= n; }, timeout);
}

bool WatchRecorder::WaitForBatches(size_t n, milliseconds timeout) const {
  return Eventually([&] { return batches().size() >= n; }, timeout);
}

std::string Show(const WatchEvent& e) {
  if (e.type == WatchEvent::Type::kDelete) {
    return fmt::format("del {}@{}", e.kv.key, e.kv.mod_revision);
  }
  return fmt::format("put {}={}@{}", e.kv.key, e.kv.value, e.kv.mod_revision);
}

std::vector<std::string> Show(const std::vector<WatchEvent>& events) {
  std::vector<std::string> out;
  out.reserve(events.size());
  for (const WatchEvent& e : events) {
    out.push_back(Show(e));
  }
  return out;
}

}  // namespace prewarm::store::testkit
