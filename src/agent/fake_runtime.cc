#include "agent/fake_runtime.h"

#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/content_id.h"
#include "fmt/format.h"
#include "workload/content_report.h"
#include "workload/queue_wait.h"

namespace prewarm::agent {

class FakeInstance final : public RuntimeInstance {
 public:
  FakeInstance(FakeRuntime& rt, std::string id, std::string dir, uint32_t slot, ScopedFd report)
      : rt_(rt),
        id_(std::move(id)),
        dir_(std::move(dir)),
        slot_(slot),
        report_(std::move(report)),
        output_(dir_ + "/output.log", rt_.output_bytes_) {
    ++rt_.live_;
    std::lock_guard<std::mutex> l(rt_.mu_);
    rt_.instances_[id_] = this;
  }
  ~FakeInstance() override { (void)Destroy(); }

  const std::string& scratch_dir() const override { return dir_; }
  int content_report_fd() const override { return report_.get(); }
  uint32_t slot() const { return slot_; }

  absl::Status Start(int listen_fd) override {
    RETURN_IF_ERROR(output_.Append(fmt::format("fake: serving {}\n", dir_)));
    fd_ = ::dup(listen_fd);
    server_ = std::thread([this] { Serve(); });
    return absl::OkStatus();
  }

  std::optional<int> PollExit() override {
    if (exited_.load()) return 137;
    return std::nullopt;
  }
  ResourceUsage Usage() override { return {1 << 20, 1}; }
  RelayCounts Relayed() const override {
    std::lock_guard<std::mutex> l(relayed_mu_);
    return relayed_;
  }
  void SetRelayed(const RelayCounts& c) {
    std::lock_guard<std::mutex> l(relayed_mu_);
    relayed_ = c;
  }
  absl::StatusOr<OutputTail> Output() override { return output_.Read(); }
  // What the workload writes to its stdout.
  absl::Status Write(std::string_view data) { return output_.Append(data); }

  absl::Status Destroy() override {
    if (destroyed_.exchange(true)) return absl::OkStatus();
    {
      std::lock_guard<std::mutex> l(rt_.mu_);
      rt_.instances_.erase(id_);
    }
    Kill();
    if (server_.joinable()) server_.join();
    report_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    --rt_.live_;
    return absl::OkStatus();
  }

  // Simulates the workload dying.
  void Kill() {
    exited_.store(true);
    if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
  }

 private:
  mutable std::mutex relayed_mu_;
  RelayCounts relayed_;  // guarded by relayed_mu_

  void Serve() {
    const auto serving_since = std::chrono::steady_clock::now();
    // Reports what it served, as prewarm-httpd does.
    auto reporter = workload::ContentReporter::Open(FakeRuntime::ReportPath(dir_));
    while (!exited_.load()) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) break;
      char buf[2048];
      ssize_t n = ::read(c, buf, sizeof buf - 1);
      std::string req(buf, n > 0 ? static_cast<size_t>(n) : 0);
      std::string path = req.substr(4, req.find(' ', 4) - 4);
      std::ifstream in(dir_ + "/content" + (path == "/" ? "/index.html" : path));
      std::stringstream body;
      if (path == "/healthz") {
        body << "ok";  // the workload's own health, whatever content it has
      } else {
        body << in.rdbuf();
      }
      std::string status = in || path == "/healthz" ? "200 OK" : "404 Not Found";
      (void)output_.Append(fmt::format("GET {} {}\n", path, status.substr(0, 3)));
      std::string out = fmt::format(
          "HTTP/1.1 {}\r\n{}: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}", status,
          workload::kQueuedHeader, workload::QueuedBeforeStartMs(c, serving_since),
          body.str().size(), body.str());
      (void)::write(c, out.data(), out.size());
      ::close(c);
      absl::StatusOr<std::string> id = ContentIdFromPath(path);
      if (reporter && id.ok() && path != "/healthz") {
        reporter->Report(in ? 200 : 404, in ? body.str().size() : 0, *id);
      }
    }
    ::close(fd_);
    fd_ = -1;
  }

  FakeRuntime& rt_;
  std::string id_;
  std::string dir_;
  uint32_t slot_;
  ScopedFd report_;
  int fd_ = -1;
  std::thread server_;
  std::atomic<bool> exited_{false};
  std::atomic<bool> destroyed_{false};
  OutputLog output_;  // an access log line per request, as its stdout
};

absl::StatusOr<std::unique_ptr<RuntimeInstance>> FakeRuntime::Create(const InstanceSpec& spec) {
  if (fail_next_.exchange(false)) return absl::InternalError("fake runtime: create failed");
  {
    // Like the oci runtime: a slot (its host id range) belongs to one live instance.
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& [id, inst] : instances_) {
      if (inst->slot() == spec.slot) {
        return absl::AlreadyExistsError(fmt::format("slot {} is held by {}", spec.slot, id));
      }
    }
  }
  std::string dir = fmt::format("{}/{}", root_, spec.id);
  std::error_code ec;
  std::filesystem::create_directories(dir + "/content", ec);
  if (ec) return absl::InternalError(ec.message());
  ASSIGN_OR_RETURN(ScopedFd report, BindUnixDatagram(ReportPath(dir), getuid(), getgid()));
  return std::unique_ptr<RuntimeInstance>(
      new FakeInstance(*this, spec.id, dir, spec.slot, std::move(report)));
}

std::map<std::string, uint32_t> FakeRuntime::LiveSlots() {
  std::lock_guard<std::mutex> l(mu_);
  std::map<std::string, uint32_t> out;
  for (const auto& [id, inst] : instances_) out[id] = inst->slot();
  return out;
}

absl::Status FakeRuntime::Write(const std::string& id, std::string_view data) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = instances_.find(id);
  if (it == instances_.end()) return absl::NotFoundError("no live instance " + id);
  return it->second->Write(data);
}

bool FakeRuntime::SetRelayed(const std::string& id, const RelayCounts& counts) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = instances_.find(id);
  if (it == instances_.end()) return false;
  it->second->SetRelayed(counts);
  return true;
}

bool FakeRuntime::Kill(const std::string& id) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = instances_.find(id);
  if (it == instances_.end()) return false;
  it->second->Kill();
  return true;
}

}  // namespace prewarm::agent
