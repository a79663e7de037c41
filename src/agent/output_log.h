// An instance's workload output (stdout and stderr; a QEMU guest's console), kept within a
// byte cap per instance so that a workload writing without end costs neither disk nor
// memory beyond it (AgentConfig::output_bytes).
//
// OutputLog keeps what a pipe delivers (OutputPump) in two files under the instance dir,
// <path> and <path>.1, each at most cap / 2 bytes: when <path> would pass its half, it
// becomes <path>.1 (the older half is dropped) and a new <path> begins. So at least the
// last cap / 2 bytes, and at most cap bytes, are kept; `cat path.1 path` shows them to an
// operator on the node. Memory: a read buffer.
//
// A file another process writes itself (QEMU's console log) is capped by TrimFile: the
// blocks before its last `cap` bytes are freed (FALLOC_FL_PUNCH_HOLE; the file keeps its
// length, reads of the hole give zeros), so between two trims it grows by what the guest
// writes in that time. ReadFileTail reads its last `cap` bytes.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "common/net.h"
#include "common/status.h"

namespace prewarm::agent {

// The default cap and the range AgentConfig accepts (a Logs answer must fit a gRPC message
// with room to spare).
inline constexpr uint64_t kDefaultOutputBytes = 64 << 10;
inline constexpr uint64_t kMinOutputBytes = 4 << 10;
inline constexpr uint64_t kMaxOutputBytes = 1 << 20;

struct OutputTail {
  std::string data;      // oldest first
  uint64_t dropped = 0;  // bytes written before `data` and no longer kept
};

class OutputLog {
 public:
  OutputLog(std::string path, uint64_t cap_bytes);
  // Thread-safe. Creates the files on first use.
  absl::Status Append(std::string_view data);
  // Thread-safe: what is kept (at most cap bytes).
  absl::StatusOr<OutputTail> Read() const;
  const std::string& path() const { return path_; }

 private:
  absl::Status Rotate();  // mu_ held

  const std::string path_;
  const uint64_t half_;
  mutable std::mutex mu_;
  ScopedFd fd_;           // <path>, guarded by mu_
  uint64_t current_ = 0;  // bytes in <path>, guarded by mu_
  uint64_t older_ = 0;    // bytes in <path>.1, guarded by mu_
  uint64_t total_ = 0;    // bytes ever appended, guarded by mu_
  absl::Status error_;    // the first write error, guarded by mu_ (then appends are dropped)
};

// Reads a pipe into an OutputLog on its own thread until the pipe's writers are gone (EOF)
// or Stop().
class OutputPump {
 public:
  OutputPump(ScopedFd read_end, std::shared_ptr<OutputLog> log);
  ~OutputPump();
  // Reads what is already in the pipe, then ends the thread. Idempotent.
  void Stop();

 private:
  void Run();

  ScopedFd fd_;
  std::shared_ptr<OutputLog> log_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

// A pipe for a child's stdout and stderr: the write end for the child (close it after the
// spawn), the read end pumped into `log`.
struct OutputPipe {
  ScopedFd write_end;
  std::unique_ptr<OutputPump> pump;
};
absl::StatusOr<OutputPipe> PipeInto(std::shared_ptr<OutputLog> log);

// The last `cap` bytes of a file another process writes (see above); dropped: the bytes
// before them. A missing file is empty.
absl::StatusOr<OutputTail> ReadFileTail(const std::string& path, uint64_t cap);
// Frees the blocks of `path` before its last `cap` bytes (whole pages); a file system
// without hole punching leaves the file as it is and says so.
absl::Status TrimFile(const std::string& path, uint64_t cap);

// The last `lines` lines of `text` (0: all of it); a last line without '\n' counts.
std::string_view LastLines(std::string_view text, uint32_t lines);
// `text` as valid UTF-8: each invalid byte becomes U+FFFD.
std::string ValidUtf8(std::string_view text);

}  // namespace prewarm::agent
