// QmpClient: QEMU's machine protocol over the per-VM unix socket — capabilities
// negotiation, then one command at a time; asynchronous events are skipped. Replies are
// parsed as JSON (google.protobuf.Struct).
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "common/net.h"
#include "common/status.h"
#include "google/protobuf/struct.pb.h"

namespace prewarm::agent::qemu {

struct QmpCommand {
  std::string command;
  std::string arguments_json;  // an object, or empty
};

class QmpClient {
 public:
  // Connects (retrying until `timeout`: QEMU creates the socket shortly after exec) and
  // negotiates capabilities. `gone`, if given, is asked between tries: once it says QEMU
  // has exited, Connect gives up at once (Aborted) instead of waiting out the timeout.
  static absl::StatusOr<QmpClient> Connect(const std::string& socket_path,
                                           std::chrono::milliseconds timeout,
                                           const std::function<bool()>& gone = nullptr);
  // Runs `command` with `arguments_json` (an object, or empty) and returns "return".
  // A QMP error reply is an error naming the command and QEMU's description.
  absl::StatusOr<google::protobuf::Value> Execute(
      const std::string& command, const std::string& arguments_json = "",
      std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // Hands `fd` to QEMU under `name` (QMP getfd, the descriptor passed with SCM_RIGHTS):
  // then "fd:<name>" names it, e.g. as a migration URI. QEMU needs no path of its own.
  absl::Status SendFd(const std::string& name, int fd);
  // Sends `commands` in one write (`fd`, if >= 0, goes with it for a getfd among them) and
  // reads their replies in order: no round trip per command. The first error reply is the
  // error (the commands after it ran all the same).
  absl::StatusOr<std::vector<google::protobuf::Value>> Pipeline(
      const std::vector<QmpCommand>& commands, int fd = -1,
      std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // query-status's "status" ("running", "paused", "inmigrate", ...).
  absl::StatusOr<std::string> Status();
  // Waits until the status is none of `while_in` (e.g. "inmigrate") and returns it: a
  // RESUME event ends the wait at once ("running"); query-status every 20 ms otherwise.
  absl::StatusOr<std::string> WaitStatusLeaves(const std::string& while_in,
                                               std::chrono::milliseconds timeout);

 private:
  explicit QmpClient(ScopedFd fd) : fd_(std::move(fd)) {}
  absl::StatusOr<google::protobuf::Value> Reply(const std::string& command,
                                                std::chrono::milliseconds timeout);
  absl::Status Send(const std::string& msg, int fd, const std::string& what);
  absl::StatusOr<google::protobuf::Struct> ReadMessage(
      std::chrono::steady_clock::time_point deadline);
  ScopedFd fd_;
  std::string buf_;
};

// Parses one JSON object (a QMP message) into a Struct.
absl::StatusOr<google::protobuf::Struct> ParseQmpMessage(const std::string& line);

}  // namespace prewarm::agent::qemu
