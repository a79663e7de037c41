#include "agent/runtime/qemu/qmp.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cctype>
#include <cstring>
#include <thread>

#include "common/fd_passing.h"
#include "fmt/format.h"
#include "google/protobuf/util/json_util.h"

namespace prewarm::agent::qemu {

using Clock = std::chrono::steady_clock;

absl::StatusOr<google::protobuf::Struct> ParseQmpMessage(const std::string& line) {
  google::protobuf::Struct s;
  auto st = google::protobuf::util::JsonStringToMessage(line, &s);
  if (!st.ok())
    return absl::InvalidArgumentError(
        fmt::format("QMP: not a JSON object: {}", line.substr(0, 200)));
  return s;
}

absl::StatusOr<QmpClient> QmpClient::Connect(const std::string& socket_path,
                                             std::chrono::milliseconds timeout,
                                             const std::function<bool()>& gone) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof(sa.sun_path)) {
    return absl::InvalidArgumentError(fmt::format("QMP socket path too long: {}", socket_path));
  }
  std::memcpy(sa.sun_path, socket_path.c_str(), socket_path.size() + 1);
  auto deadline = Clock::now() + timeout;
  for (;;) {
    ScopedFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0) {
      QmpClient c(std::move(fd));
      ASSIGN_OR_RETURN(google::protobuf::Struct greeting, c.ReadMessage(deadline));
      if (!greeting.fields().contains("QMP")) return absl::UnavailableError("QMP: no greeting");
      RETURN_IF_ERROR(c.Execute("qmp_capabilities").status());
      return c;
    }
    int err = errno;
    if (gone && gone()) {
      return absl::AbortedError(fmt::format("QMP: QEMU exited before it opened {}", socket_path));
    }
    if (Clock::now() > deadline) {
      return absl::DeadlineExceededError(
          fmt::format("QMP: cannot connect to {}: {}", socket_path, std::strerror(err)));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

absl::StatusOr<google::protobuf::Struct> QmpClient::ReadMessage(Clock::time_point deadline) {
  for (;;) {
    size_t nl = buf_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buf_.substr(0, nl);
      buf_.erase(0, nl + 1);
      if (line.find_first_not_of(" \r\t") == std::string::npos) continue;
      return ParseQmpMessage(line);
    }
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return absl::DeadlineExceededError("QMP: no reply in time");
    pollfd p{fd_.get(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
    char tmp[4096];
    ssize_t n = ::recv(fd_.get(), tmp, sizeof tmp, 0);
    if (n <= 0) return absl::UnavailableError("QMP: connection closed");
    buf_.append(tmp, static_cast<size_t>(n));
    if (buf_.size() > (1 << 20)) return absl::ResourceExhaustedError("QMP: reply too long");
  }
}

absl::StatusOr<google::protobuf::Value> QmpClient::Execute(const std::string& command,
                                                           const std::string& arguments_json,
                                                           std::chrono::milliseconds timeout) {
  std::string msg =
      arguments_json.empty()
          ? fmt::format("{{\"execute\": \"{}\"}}\n", command)
          : fmt::format("{{\"execute\": \"{}\", \"arguments\": {}}}\n", command, arguments_json);
  if (::send(fd_.get(), msg.data(), msg.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(msg.size())) {
    return absl::UnavailableError(fmt::format("QMP {}: send failed", command));
  }
  return Reply(command, timeout);
}

absl::Status QmpClient::SendFd(const std::string& name, int fd) {
  if (name.empty() ||
      name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-_") != std::string::npos ||
      std::isdigit(static_cast<unsigned char>(name[0]))) {
    return absl::InvalidArgumentError(fmt::format("QMP getfd: bad fd name '{}'", name));
  }
  std::string msg =
      fmt::format(R"({{"execute": "getfd", "arguments": {{"fdname": "{}"}}}})", name) + "\n";
  RETURN_IF_ERROR(Send(msg, fd, "getfd " + name));
  return Reply("getfd", std::chrono::seconds(30)).status();
}

absl::Status QmpClient::Send(const std::string& msg, int fd, const std::string& what) {
  if (SendWithFd(fd_.get(), msg.data(), msg.size(), fd) != static_cast<ssize_t>(msg.size())) {
    return absl::UnavailableError(fmt::format("QMP {}: sendmsg: {}", what, std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<google::protobuf::Value>> QmpClient::Pipeline(
    const std::vector<QmpCommand>& commands, int fd, std::chrono::milliseconds timeout) {
  std::string msg;
  for (const QmpCommand& c : commands) {
    if (c.command == "getfd" && fd < 0) return absl::InvalidArgumentError("QMP getfd: no fd");
    msg += c.arguments_json.empty() ? fmt::format("{{\"execute\": \"{}\"}}\n", c.command)
                                    : fmt::format("{{\"execute\": \"{}\", \"arguments\": {}}}\n",
                                                  c.command, c.arguments_json);
  }
  RETURN_IF_ERROR(Send(msg, fd, commands.empty() ? "" : commands.front().command));
  std::vector<google::protobuf::Value> out;
  absl::Status first_error = absl::OkStatus();
  for (const QmpCommand& c : commands) {
    absl::StatusOr<google::protobuf::Value> r = Reply(c.command, timeout);
    if (!r.ok() && r.status().code() != absl::StatusCode::kFailedPrecondition)
      return r.status();  // no reply at all: the rest will not come either
    if (!r.ok() && first_error.ok()) first_error = r.status();
    out.push_back(r.ok() ? *r : google::protobuf::Value());
  }
  if (!first_error.ok()) return first_error;
  return out;
}

absl::StatusOr<google::protobuf::Value> QmpClient::Reply(const std::string& command,
                                                         std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    ASSIGN_OR_RETURN(google::protobuf::Struct reply, ReadMessage(deadline));
    const auto& f = reply.fields();
    if (f.contains("event")) continue;
    if (f.contains("error")) {
      std::string desc;
      const auto& e = f.at("error").struct_value().fields();
      if (e.contains("desc")) desc = e.at("desc").string_value();
      return absl::FailedPreconditionError(fmt::format("QMP {}: {}", command, desc));
    }
    if (f.contains("return")) return f.at("return");
  }
}

absl::StatusOr<std::string> QmpClient::Status() {
  ASSIGN_OR_RETURN(google::protobuf::Value v, Execute("query-status"));
  const auto& f = v.struct_value().fields();
  if (!f.contains("status")) return absl::InternalError("QMP query-status: no status");
  return f.at("status").string_value();
}

absl::StatusOr<std::string> QmpClient::WaitStatusLeaves(const std::string& while_in,
                                                        std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    ASSIGN_OR_RETURN(std::string s, Status());
    if (s != while_in) return s;
    if (Clock::now() > deadline)
      return absl::DeadlineExceededError(fmt::format("QMP: still {}", s));
    // Events until the next check: RESUME is the VM starting (an incoming migration that
    // ends running); a closed socket is QEMU gone.
    auto until = std::min(deadline, Clock::now() + std::chrono::milliseconds(20));
    for (;;) {
      absl::StatusOr<google::protobuf::Struct> m = ReadMessage(until);
      if (!m.ok() && m.status().code() == absl::StatusCode::kDeadlineExceeded) break;
      if (!m.ok()) return m.status();
      const auto& f = m->fields();
      if (f.contains("event") && f.at("event").string_value() == "RESUME") return "running";
    }
  }
}

}  // namespace prewarm::agent::qemu
