// Child processes as a dependency: RealProcessRunner forks and execs; tests and the
// simulator can substitute their own ProcessRunner. Every child starts with only the
// descriptors it was given (stdio plus an explicit fd map); everything else is closed.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace prewarm {

// Exit code of a finished child: its exit status, or 128 + signal number when killed.
struct ProcessResult {
  int exit_code = 0;
  std::string output;  // stdout and stderr, interleaved, truncated at 1 MiB
};

struct SpawnOptions {
  std::vector<std::string> argv;  // argv[0] is looked up in PATH when it has no '/'
  // Child fd -> parent fd, e.g. {{3, listen_fd}}. Mapped fds survive exec; no other
  // descriptor above 2 does.
  std::map<int, int> fds;
  // Full environment ("K=V"); nullopt inherits the parent's.
  std::optional<std::vector<std::string>> env;
  // stdout and stderr are appended here; empty means /dev/null. stdin is /dev/null.
  std::string log_path;
  // Or stdout and stderr go to this descriptor (e.g. a pipe's write end), if >= 0.
  int out_fd = -1;
  bool new_process_group = false;
  // SIGKILL the child when its parent dies (PR_SET_PDEATHSIG). The kernel tracks the
  // *thread* that forked: spawn from a thread that lives as long as the process (see
  // agent/runtime/qemu's spawner), or the child dies when a short-lived thread exits.
  bool kill_with_parent = false;
  // CLONE_NEW* flags: the child starts in new namespaces of these kinds (created with
  // clone(2) instead of fork(2)). With CLONE_NEWPID it is pid 1 of its own pid
  // namespace: kill_with_parent cannot then check that its parent is still alive.
  int namespaces = 0;
  // The child runs under SCHED_IDLE: only on CPU time nothing else wants (e.g. a process
  // started ahead of need; SetNormalPriority() returns it to SCHED_OTHER).
  bool idle_priority = false;
};

// Every thread of process `pid` to SCHED_OTHER at nice 0 (from SCHED_IDLE, or any other
// policy); threads it starts later inherit that from its main thread.
absl::Status SetNormalPriority(pid_t pid);

class ProcessRunner {
 public:
  virtual ~ProcessRunner() = default;
  // Runs argv to completion, capturing output. On timeout the child is SIGKILLed and
  // DeadlineExceeded returned. A non-zero exit is not an error: check exit_code.
  virtual absl::StatusOr<ProcessResult> Run(const std::vector<std::string>& argv,
                                            std::chrono::milliseconds timeout) = 0;
  // Starts a child and returns its pid without waiting. Fails if exec fails.
  virtual absl::StatusOr<pid_t> Spawn(const SpawnOptions& options) = 0;
  // Non-blocking: the exit code once the child has exited (and reaps it), else nullopt.
  virtual absl::StatusOr<std::optional<int>> TryWait(pid_t pid) = 0;
  // Sends `sig` to the child (a negative pid names a process group, as for kill(2)).
  virtual absl::Status Signal(pid_t pid, int sig) = 0;
};

class RealProcessRunner final : public ProcessRunner {
 public:
  absl::StatusOr<ProcessResult> Run(const std::vector<std::string>& argv,
                                    std::chrono::milliseconds timeout) override;
  absl::StatusOr<pid_t> Spawn(const SpawnOptions& options) override;
  absl::StatusOr<std::optional<int>> TryWait(pid_t pid) override;
  absl::Status Signal(pid_t pid, int sig) override;
};

// Polls runner.TryWait until the child exits or `timeout` passes (then nullopt).
absl::StatusOr<std::optional<int>> WaitFor(ProcessRunner& runner, pid_t pid,
                                           std::chrono::milliseconds timeout);

}  // namespace prewarm
