// ConsoleWatch: a VM's serial console, read from QEMU's serial socket (chardev server)
// while the instance starts. Lines go out on it (the guest's identity line) and every
// line that comes back containing "prewarm-guest: " is timestamped when it arrives, so a
// start's guest-side steps can be timed and waited for without polling a log file.
// One thread reads the socket and drains it continuously: QEMU never blocks on a full
// socket, and keeping the connection open keeps QEMU from dropping input the guest's UART
// has not taken yet (it takes 16 bytes at a time). Only the marker lines are kept (at most
// kMaxLines); the rest of the console is in console.log as always.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/net.h"
#include "common/status.h"

namespace prewarm::agent::qemu {

class ConsoleWatch {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr size_t kMaxLines = 64;
  static constexpr size_t kMaxLineBytes = 4096;

  // Connects to the serial socket at `path` and starts reading.
  static absl::StatusOr<std::unique_ptr<ConsoleWatch>> Connect(const std::string& path);
  ~ConsoleWatch();
  ConsoleWatch(const ConsoleWatch&) = delete;
  ConsoleWatch& operator=(const ConsoleWatch&) = delete;

  // Writes `line` (its bytes as given) to the guest's serial port.
  absl::Status Send(const std::string& line);
  // When the first line containing `marker` arrived: waits up to `timeout` for it. nullopt
  // when it did not come in time or the console closed (QEMU exited) first.
  std::optional<Clock::time_point> WaitFor(const std::string& marker,
                                           std::chrono::milliseconds timeout);
  bool closed() const;
  // Stops reading and hangs up (the destructor does too).
  void Stop();

 private:
  explicit ConsoleWatch(ScopedFd fd) : fd_(std::move(fd)) {}
  void Loop();
  std::optional<Clock::time_point> FindLocked(const std::string& marker) const;
  ScopedFd fd_;
  ScopedFd wake_[2];
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::pair<std::string, Clock::time_point>> lines_;
  bool closed_ = false;
};

}  // namespace prewarm::agent::qemu
