#include "store/etcd_endpoints.h"

#include <algorithm>
#include <thread>

#include "common/status.h"
#include "fmt/format.h"

namespace prewarm::store {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr int kMaxAttemptsPerMember = 3;  // bounds Invoke's loop besides its deadline
constexpr milliseconds kPollInterval(10);

// Why a call failed, and so whether sending it again is safe.
enum class Failure {
  kFinal,         // etcd answered: wrong request, lease not found, compacted, ...
  kNotApplied,    // etcd refused it before proposing, or it never left this process
  kMaybeApplied,  // it was sent and the answer is lost
};

Failure Classify(const grpc::Status& s) {
  const std::string& msg = s.error_message();
  switch (s.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      // etcd's own refusals (v3rpc/rpctypes), returned before a request is proposed.
      if (msg == "etcdserver: no leader" || msg == "etcdserver: not capable" ||
          msg == "etcdserver: rpc not supported for learner") {
        return Failure::kNotApplied;
      }
      // gRPC's pick failure: the call never reached a transport.
      if (msg.find("failed to connect to all addresses") != std::string::npos) {
        return Failure::kNotApplied;
      }
      // A cut connection, "etcdserver: request timed out", "leader changed", "server
      // stopped": the request may be in the log.
      return Failure::kMaybeApplied;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      // Refused before proposing when the apply loop lags; "database space exceeded" is final.
      return msg == "etcdserver: too many requests" ? Failure::kNotApplied : Failure::kFinal;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::UNKNOWN:  // gRPC reports some transport breaks as UNKNOWN
      return Failure::kMaybeApplied;
    default:
      return Failure::kFinal;
  }
}

std::chrono::system_clock::time_point ToSystem(Deadline d) {
  return std::chrono::system_clock::now() +
         std::chrono::duration_cast<std::chrono::system_clock::duration>(d - steady_clock::now());
}

std::string StripScheme(std::string_view endpoint) {
  for (std::string_view scheme : {"http://", "https://"}) {
    if (endpoint.starts_with(scheme)) {
      endpoint.remove_prefix(scheme.size());
    }
  }
  return std::string(endpoint);
}

grpc::ChannelArguments ChannelArgs() {
  grpc::ChannelArguments args;
  // A restarted member is found within a second. (Not GRPC_ARG_MIN_RECONNECT_BACKOFF_MS:
  // despite its name gRPC takes it as the connect timeout, and 100 ms cuts handshakes.)
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  // A member that vanishes without closing its connection ends the streams on it. etcd
  // refuses pings more often than every 5 s (--grpc-keepalive-min-time) or without calls.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 0);
  args.SetMaxReceiveMessageSize(256 << 20);  // a big prefix listing, not gRPC's 4 MiB
  // Connections of their own, not shared with another EtcdKv in this process.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return args;
}

const char* StateName(grpc_connectivity_state s) {
  switch (s) {
    case GRPC_CHANNEL_IDLE:
      return "idle";
    case GRPC_CHANNEL_CONNECTING:
      return "connecting";
    case GRPC_CHANNEL_READY:
      return "ready";
    case GRPC_CHANNEL_TRANSIENT_FAILURE:
      return "unreachable";
    case GRPC_CHANNEL_SHUTDOWN:
      return "shut down";
  }
  return "?";
}

}  // namespace

absl::StatusOr<std::unique_ptr<EtcdEndpoints>> EtcdEndpoints::Create(const EtcdKvOptions& options) {
  if (options.endpoints.empty()) {
    return absl::InvalidArgumentError("etcd: no endpoints given");
  }
  std::unique_ptr<EtcdEndpoints> e(new EtcdEndpoints());
  e->tls_ = options.credentials != nullptr;
  e->request_timeout_ms_ = options.request_timeout_ms > 0 ? options.request_timeout_ms : 5000;
  e->dial_timeout_ms_ = options.dial_timeout_ms > 0 ? options.dial_timeout_ms : 2000;
  auto creds = e->tls_ ? options.credentials : grpc::InsecureChannelCredentials();
  for (const std::string& endpoint : options.endpoints) {
    Member m;
    m.name = StripScheme(endpoint);
    if (m.name.empty()) {
      return absl::InvalidArgumentError("etcd: empty endpoint");
    }
    m.channel = grpc::CreateCustomChannel(m.name, creds, ChannelArgs());
    m.kv = etcdserverpb::KV::NewStub(m.channel);
    m.lease = etcdserverpb::Lease::NewStub(m.channel);
    m.watch = etcdserverpb::Watch::NewStub(m.channel);
    e->members_.push_back(std::move(m));
  }
  return e;
}

Deadline EtcdEndpoints::DeadlineFor(int64_t timeout_ms) const {
  return steady_clock::now() + milliseconds(timeout_ms > 0 ? timeout_ms : request_timeout_ms_);
}

std::optional<size_t> EtcdEndpoints::FirstReady() {
  size_t start = preferred_.load();
  for (size_t k = 0; k < members_.size(); ++k) {
    size_t i = (start + k) % members_.size();
    // true: an idle channel starts connecting, so the next poll may find it ready.
    if (members_[i].channel->GetState(true) == GRPC_CHANNEL_READY) {
      return i;
    }
  }
  return std::nullopt;
}

std::string EtcdEndpoints::States() {
  std::vector<std::string> parts;
  for (const Member& m : members_) {
    parts.push_back(fmt::format("{} {}", m.name, StateName(m.channel->GetState(false))));
  }
  return fmt::format("{}", fmt::join(parts, ", "));
}

absl::StatusOr<size_t> EtcdEndpoints::Pick(Deadline deadline, const std::atomic<bool>* stop) {
  Deadline until = std::min(deadline, steady_clock::now() + milliseconds(dial_timeout_ms_));
  for (;;) {
    if (std::optional<size_t> i = FirstReady()) {
      return *i;
    }
    if (stop != nullptr && stop->load()) {
      return absl::CancelledError("etcd: stopping");
    }
    if (steady_clock::now() >= until) {
      break;
    }
    // Waiting on a channel polls gRPC's I/O, which moves every connection attempt along;
    // a plain sleep would leave them to gRPC's backup poller (every 5 s).
    for (Member& m : members_) {
      m.channel->WaitForStateChange(m.channel->GetState(true),
                                    ToSystem(std::min(until, steady_clock::now() + kPollInterval)));
    }
  }
  return absl::UnavailableError(fmt::format("etcd: no member reachable ({})", States()));
}

void EtcdEndpoints::Demote(size_t i) {
  size_t expected = i;
  preferred_.compare_exchange_strong(expected, (i + 1) % members_.size());
}

void EtcdEndpoints::Prepare(grpc::ClientContext& ctx, std::optional<Deadline> deadline) {
  // etcd's require-leader (rpctypes.MetadataRequireLeaderKey): a member without a leader
  // refuses at once ("etcdserver: no leader") and ends such streams when it loses one.
  ctx.AddMetadata("hasleader", "true");
  if (deadline.has_value()) {
    ctx.set_deadline(ToSystem(*deadline));
  }
}

bool EtcdEndpoints::StillReady(size_t i) {
  grpc::Channel& channel = *members_[i].channel;
  // One pass of gRPC's I/O polling: a connection the member closed (it died) is seen
  // closed now, before a write goes out on it and comes back "outcome unknown".
  channel.WaitForStateChange(GRPC_CHANNEL_READY, std::chrono::system_clock::now());
  return channel.GetState(false) == GRPC_CHANNEL_READY;
}

absl::Status FromGrpc(const grpc::Status& s, std::string_view what, std::string_view member) {
  if (s.ok()) {
    return absl::OkStatus();
  }
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                      fmt::format("etcd {} via {}: {}", what, member, s.error_message()));
}

absl::Status EtcdEndpoints::Invoke(std::string_view what, Retry retry, int64_t timeout_ms,
                                   const Call& call, const std::atomic<bool>* stop) {
  Deadline deadline = DeadlineFor(timeout_ms);
  absl::Status last = absl::UnavailableError(fmt::format("etcd {}: no attempt made", what));
  const int max_attempts = kMaxAttemptsPerMember * static_cast<int>(members_.size());
  for (int attempt = 0; attempt < max_attempts && steady_clock::now() < deadline; ++attempt) {
    if (stop != nullptr && stop->load()) {
      return absl::CancelledError("etcd: stopping");
    }
    absl::StatusOr<size_t> member = Pick(deadline, stop);
    if (!member.ok()) {
      last = absl::Status(member.status().code(),
                          fmt::format("etcd {}: {}", what, member.status().message()));
      continue;  // Pick waited its dial timeout; try again while time remains
    }
    if (retry == Retry::kIfUnsent && !StillReady(*member)) {
      continue;
    }
    grpc::ClientContext ctx;
    Prepare(ctx, deadline);
    grpc::Status s = call(*member, ctx);
    if (s.ok()) {
      return absl::OkStatus();
    }
    last = FromGrpc(s, what, name(*member));
    Failure failure = Classify(s);
    if (failure == Failure::kFinal) {
      return last;
    }
    Demote(*member);
    if (failure == Failure::kMaybeApplied && retry == Retry::kIfUnsent) {
      std::string msg =
          fmt::format("{} (outcome unknown: etcd may have applied it)", last.message());
      return s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED
                 ? absl::DeadlineExceededError(msg)
                 : absl::UnknownError(msg);
    }
    if ((attempt + 1) % static_cast<int>(members_.size()) == 0) {
      BackoffSleep(attempt / static_cast<int>(members_.size()), deadline, stop);
    }
  }
  return last;
}

void BackoffSleep(int attempt, Deadline deadline, const std::atomic<bool>* stop) {
  milliseconds step(std::min<int64_t>(50LL << std::min(attempt, 5), 1000));
  Deadline until = std::min(deadline, steady_clock::now() + step);
  while (steady_clock::now() < until && (stop == nullptr || !stop->load())) {
    std::this_thread::sleep_for(
        std::min<steady_clock::duration>(kPollInterval, until - steady_clock::now()));
  }
}

}  // namespace prewarm::store
