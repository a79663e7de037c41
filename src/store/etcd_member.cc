#include "store/etcd_member.h"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/synchronization/notification.h"
#include "common/net.h"
#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"
#include "fmt/format.h"
#include "grpcpp/grpcpp.h"

namespace prewarm::store::cluster_internal {
namespace {

namespace fs = std::filesystem;

std::string Url(const EtcdClusterOptions& o, size_t i, uint16_t port) {
  return fmt::format("{}://{}:{}", o.tls.enabled() ? "https" : "http", o.ips[i], port);
}

std::vector<std::string> TlsArgs(const EtcdTlsFiles& tls) {
  if (!tls.enabled()) {
    return {};
  }
  return {"--cert-file=" + tls.cert_file,          "--key-file=" + tls.key_file,
          "--trusted-ca-file=" + tls.ca_file,      "--client-cert-auth",
          "--peer-cert-file=" + tls.cert_file,     "--peer-key-file=" + tls.key_file,
          "--peer-trusted-ca-file=" + tls.ca_file, "--peer-client-cert-auth"};
}

// Whether the process that made a "prewarm-etcd-<pid>-XXXXXX" directory is gone.
bool Orphaned(const std::string& name) {
  constexpr std::string_view kPrefix = "prewarm-etcd-";
  if (!name.starts_with(kPrefix)) {
    return false;
  }
  std::string_view rest = std::string_view(name).substr(kPrefix.size());
  std::optional<int64_t> pid = ParseInt(rest.substr(0, rest.find('-')));
  return pid.has_value() && *pid > 0 && *pid != ::getpid() &&
         ::kill(static_cast<pid_t>(*pid), 0) != 0 && errno == ESRCH;
}

std::string DefaultParent() {
  if (::access("/dev/shm", W_OK) == 0) {
    return "/dev/shm";
  }
  const char* tmp = std::getenv("TMPDIR");  // NOLINT(concurrency-mt-unsafe): read-only use
  return tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
}

}  // namespace

std::vector<std::string> MemberArgs(const EtcdClusterOptions& o, size_t i, const std::string& dir,
                                    const std::string& token) {
  std::vector<std::string> peers;
  for (size_t k = 0; k < o.ips.size(); ++k) {
    peers.push_back(fmt::format("m{}={}", k, Url(o, k, o.peer_port)));
  }
  std::vector<std::string> args = {
      o.etcd_binary,
      fmt::format("--name=m{}", i),
      fmt::format("--data-dir={}/m{}/data", dir, i),
      "--listen-client-urls=" + Url(o, i, o.client_port),
      "--advertise-client-urls=" + Url(o, i, o.client_port),
      "--listen-peer-urls=" + Url(o, i, o.peer_port),
      "--initial-advertise-peer-urls=" + Url(o, i, o.peer_port),
      fmt::format("--initial-cluster={}", fmt::join(peers, ",")),
      "--initial-cluster-state=new",  // ignored on restart: the data dir knows the cluster
      "--initial-cluster-token=" + token,
      fmt::format("--heartbeat-interval={}", o.heartbeat_ms),
      fmt::format("--election-timeout={}", o.election_ms),
      "--logger=zap",
      "--log-outputs=stderr",  // the runner appends it to m<i>/etcd.log
  };
  for (std::string& a : TlsArgs(o.tls)) {
    args.push_back(std::move(a));
  }
  return args;
}

absl::Status Probe(const std::string& endpoint,
                   const std::shared_ptr<grpc::ChannelCredentials>& credentials,
                   std::chrono::milliseconds timeout) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto stub = etcdserverpb::KV::NewStub(grpc::CreateCustomChannel(endpoint, credentials, args));
  grpc::ClientContext ctx;
  ctx.AddMetadata("hasleader", "true");
  ctx.set_deadline(std::chrono::system_clock::now() + timeout);
  etcdserverpb::RangeRequest request;
  request.set_key("prewarm-etcd-cluster-probe");
  request.set_count_only(true);
  etcdserverpb::RangeResponse response;
  grpc::Status s = stub->Range(&ctx, request, &response);
  if (s.ok()) {
    return absl::OkStatus();
  }
  return absl::UnavailableError(fmt::format("{}: {}", endpoint, s.error_message()));
}

std::string Tail(const std::string& path, size_t max_lines) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return "";
  }
  in.seekg(0, std::ios::end);
  std::streamoff size = in.tellg();
  in.seekg(std::max<std::streamoff>(0, size - std::streamoff{64 * 1024}));
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  while (!text.empty() && text.back() == '\n') {
    text.pop_back();
  }
  size_t pos = text.size();
  for (size_t n = 0; n < max_lines && pos != std::string::npos && pos > 0; ++n) {
    pos = text.rfind('\n', pos - 1);
  }
  return pos == std::string::npos ? text : text.substr(pos + 1);
}

absl::Status CheckPortFree(const std::string& ip, uint16_t port) {
  ASSIGN_OR_RETURN(IpAddr addr, IpAddr::Parse(ip));
  absl::StatusOr<ScopedFd> fd = ListenTcp(addr, port, 1);
  if (fd.ok()) {
    return absl::OkStatus();  // closed at once: etcd binds it next
  }
  if (absl::IsAlreadyExists(fd.status())) {
    return absl::AlreadyExistsError(fmt::format(
        "etcd cluster: {}:{} is already in use (another etcd? pick other addresses)", ip, port));
  }
  return absl::Status(fd.status().code(), fmt::format("etcd cluster: cannot bind {}:{}: {}", ip,
                                                      port, fd.status().message()));
}

absl::StatusOr<std::string> MakeClusterDir(const std::string& parent) {
  std::string base = parent.empty() ? DefaultParent() : parent;
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(base, ec)) {
    if (e.is_directory(ec) && Orphaned(e.path().filename().string())) {
      fs::remove_all(e.path(), ec);
    }
  }
  std::string tmpl = fmt::format("{}/prewarm-etcd-{}-XXXXXX", base, ::getpid());
  if (::mkdtemp(tmpl.data()) == nullptr) {
    return ErrnoStatus(errno, "mkdtemp " + tmpl);
  }
  return tmpl;
}

Spawner::Spawner(ProcessRunner& runner) : runner_(runner), thread_(&Spawner::Run, this) {}

Spawner::~Spawner() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

absl::StatusOr<pid_t> Spawner::Spawn(const SpawnOptions& options) {
  absl::StatusOr<pid_t> result = absl::InternalError("spawner stopped");
  absl::Notification done;
  {
    absl::MutexLock lock(&mu_);
    tasks_.push_back([&] {
      result = runner_.Spawn(options);
      done.Notify();
    });
  }
  done.WaitForNotification();  // fork+exec: bounded, it does not wait for the child
  return result;
}

void Spawner::Run() {
  for (;;) {
    std::function<void()> task;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]()
                       ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || !tasks_.empty(); };
      mu_.Await(absl::Condition(&ready));
      if (tasks_.empty()) {
        return;  // stopping, nothing left to run
      }
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();
  }
}

}  // namespace prewarm::store::cluster_internal
