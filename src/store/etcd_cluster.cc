#include "store/etcd_cluster.h"

#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "fmt/format.h"
#include "grpcpp/grpcpp.h"
#include "spdlog/spdlog.h"
#include "store/etcd_member.h"

namespace prewarm::store {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;
using namespace cluster_internal;

constexpr milliseconds kReapTimeout(5000);

absl::StatusOr<std::string> ReadPem(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(fmt::format("etcd cluster: cannot read {}", path));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

EtcdClusterOptions ProcessLocalClusterOptions(int members, int first_host) {
  int pid = static_cast<int>(::getpid());
  EtcdClusterOptions options;
  options.ips.clear();
  for (int i = 0; i < members; ++i) {
    options.ips.push_back(
        fmt::format("127.{}.{}.{}", 100 + (pid / 256) % 100, pid % 256, first_host + i));
  }
  return options;
}

EtcdCluster::EtcdCluster(EtcdClusterOptions options)
    : options_(std::move(options)),
      own_runner_(std::make_unique<RealProcessRunner>()),
      runner_(*own_runner_),
      spawner_(std::make_unique<Spawner>(runner_)) {}

EtcdCluster::EtcdCluster(EtcdClusterOptions options, ProcessRunner& runner)
    : options_(std::move(options)), runner_(runner), spawner_(std::make_unique<Spawner>(runner_)) {}

EtcdCluster::~EtcdCluster() { Stop(); }

std::string EtcdCluster::ClientEndpoint(size_t i) const {
  return fmt::format("{}:{}", options_.ips[i], options_.client_port);
}

std::vector<std::string> EtcdCluster::ClientEndpoints() const {
  std::vector<std::string> out;
  for (size_t i = 0; i < size(); ++i) {
    out.push_back(ClientEndpoint(i));
  }
  return out;
}

std::string EtcdCluster::LogPath(size_t i) const { return fmt::format("{}/m{}/etcd.log", dir_, i); }

std::string EtcdCluster::LogTail(size_t i, size_t max_lines) const {
  return dir_.empty() ? "" : Tail(LogPath(i), max_lines);
}

bool EtcdCluster::Running(size_t i) const { return i < pids_.size() && pids_[i] > 0; }

int64_t EtcdCluster::MinLeaseTtlMs() const {
  // etcdserver: minTTL = (3 * electionTicks / 2) ticks, rounded up to whole seconds.
  int64_t ticks = options_.election_ms / std::max<int64_t>(options_.heartbeat_ms, 1);
  int64_t min_ms = (3 * ticks / 2) * options_.heartbeat_ms;
  return std::max<int64_t>(1, (min_ms + 999) / 1000) * 1000;
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> EtcdCluster::ClientCredentials() const {
  if (!options_.tls.enabled()) {
    return grpc::InsecureChannelCredentials();
  }
  grpc::SslCredentialsOptions ssl;
  ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadPem(options_.tls.ca_file));
  ASSIGN_OR_RETURN(ssl.pem_private_key, ReadPem(options_.tls.key_file));
  ASSIGN_OR_RETURN(ssl.pem_cert_chain, ReadPem(options_.tls.cert_file));
  return grpc::SslCredentials(ssl);
}

absl::Status EtcdCluster::CheckPrerequisites() const {
  if (::access(options_.etcd_binary.c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(
        fmt::format("etcd cluster: no etcd executable at {}: install Debian's etcd-server "
                    "(tools/install-deps does)",
                    options_.etcd_binary));
  }
  if (options_.ips.empty()) {
    return absl::InvalidArgumentError("etcd cluster: no member addresses");
  }
  for (const std::string& f :
       {options_.tls.ca_file, options_.tls.cert_file, options_.tls.key_file}) {
    if (options_.tls.enabled() && ::access(f.c_str(), R_OK) != 0) {
      return absl::NotFoundError(fmt::format("etcd cluster: TLS file {} is not readable", f));
    }
  }
  for (const std::string& ip : options_.ips) {
    RETURN_IF_ERROR(CheckPortFree(ip, options_.client_port));
    RETURN_IF_ERROR(CheckPortFree(ip, options_.peer_port));
  }
  return absl::OkStatus();
}

absl::Status EtcdCluster::Start() {
  if (!dir_.empty()) {
    return absl::FailedPreconditionError("etcd cluster: already started");
  }
  RETURN_IF_ERROR(CheckPrerequisites());
  ASSIGN_OR_RETURN(dir_, MakeClusterDir(options_.temp_parent));
  token_ = std::filesystem::path(dir_).filename().string();  // unique: no stray member joins
  pids_.assign(size(), 0);
  std::vector<size_t> all;
  absl::Status status;
  for (size_t i = 0; i < size() && status.ok(); ++i) {
    all.push_back(i);
    status = Spawn(i);
  }
  if (status.ok()) {
    status = WaitReady(all);
  }
  if (!status.ok()) {
    Stop();
  }
  return status;
}

absl::Status EtcdCluster::Spawn(size_t i) {
  std::error_code ec;
  std::filesystem::create_directories(fmt::format("{}/m{}", dir_, i), ec);
  if (ec) {
    return absl::InternalError(
        fmt::format("etcd cluster: mkdir {}/m{}: {}", dir_, i, ec.message()));
  }
  SpawnOptions spawn;
  spawn.argv = MemberArgs(options_, i, dir_, token_);
  // A clean environment: etcd also reads its flags from ETCD_* variables.
  spawn.env = std::vector<std::string>{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"};
  spawn.log_path = LogPath(i);
  spawn.kill_with_parent = true;
  // Its own process group: a Ctrl-C at the terminal (SIGINT to the foreground group) must
  // not kill the store before the orchestrators above it have shut down on it.
  spawn.new_process_group = true;
  absl::StatusOr<pid_t> pid = spawner_->Spawn(spawn);
  if (!pid.ok()) {
    return MemberError(i, fmt::format("could not start: {}", pid.status().message()));
  }
  pids_[i] = *pid;
  return absl::OkStatus();
}

absl::Status EtcdCluster::MemberError(size_t i, std::string_view what) const {
  std::string tail = LogTail(i);
  return absl::UnavailableError(fmt::format("etcd member m{} ({}) {}; {}:\n{}", i,
                                            ClientEndpoint(i), what, LogPath(i),
                                            tail.empty() ? "(empty log)" : tail));
}

absl::Status EtcdCluster::WaitReady(const std::vector<size_t>& members) {
  ASSIGN_OR_RETURN(auto credentials, ClientCredentials());
  auto deadline = steady_clock::now() + milliseconds(options_.start_timeout_ms);
  for (size_t i : members) {
    RETURN_IF_ERROR(WaitMember(i, credentials, deadline));
  }
  return absl::OkStatus();
}

absl::Status EtcdCluster::WaitMember(size_t i,
                                     const std::shared_ptr<grpc::ChannelCredentials>& credentials,
                                     std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    if (!Running(i)) {
      return MemberError(i, "is not running");
    }
    ASSIGN_OR_RETURN(std::optional<int> exit_code, runner_.TryWait(pids_[i]));
    if (exit_code.has_value()) {
      pids_[i] = 0;
      return MemberError(i, fmt::format("exited with code {} while starting", *exit_code));
    }
    absl::Status probe = Probe(ClientEndpoint(i), credentials, milliseconds(1000));
    if (probe.ok()) {
      return absl::OkStatus();
    }
    if (steady_clock::now() >= deadline) {
      return MemberError(i, fmt::format("did not answer within {} ms (last: {})",
                                        options_.start_timeout_ms, probe.message()));
    }
    std::this_thread::sleep_for(milliseconds(50));
  }
}

absl::Status EtcdCluster::Kill(size_t i) {
  if (i >= size()) {
    return absl::InvalidArgumentError(fmt::format("etcd cluster: no member {}", i));
  }
  if (!Running(i)) {
    return absl::OkStatus();
  }
  pid_t pid = pids_[i];
  pids_[i] = 0;
  RETURN_IF_ERROR(runner_.Signal(pid, SIGKILL));
  ASSIGN_OR_RETURN(std::optional<int> code, WaitFor(runner_, pid, kReapTimeout));
  if (!code.has_value()) {
    return absl::InternalError(fmt::format("etcd member m{} survived SIGKILL", i));
  }
  return absl::OkStatus();
}

absl::Status EtcdCluster::Restart(size_t i) {
  if (dir_.empty()) {
    return absl::FailedPreconditionError("etcd cluster: not started");
  }
  RETURN_IF_ERROR(Kill(i));
  RETURN_IF_ERROR(Spawn(i));
  std::vector<size_t> running;
  for (size_t k = 0; k < size(); ++k) {
    if (Running(k)) {
      running.push_back(k);
    }
  }
  if (running.size() < size() / 2 + 1) {
    return absl::OkStatus();  // no quorum to answer yet
  }
  return WaitReady(running);
}

void EtcdCluster::Stop() {
  for (size_t i = 0; i < pids_.size(); ++i) {
    absl::Status killed = Kill(i);
    if (!killed.ok()) {
      spdlog::warn("etcd cluster: stopping m{}: {}", i, killed.message());
    }
  }
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    if (ec) {
      spdlog::warn("etcd cluster: could not remove {}: {}", dir_, ec.message());
    }
    dir_.clear();
  }
}

}  // namespace prewarm::store
