// Where preloaded content comes from, and how readiness is checked: both behind narrow
// interfaces so the agent's tests and the simulator can use in-process fakes.
//
// A fetch writes into a directory the caller holds open (an instance's scratch content/
// directory): every file and subdirectory is created relative to that descriptor, never
// through a symlink, so a fetch still running when its instance is destroyed creates
// nothing outside the (removed or detached) directory, and a workload's symlink in its
// scratch cannot redirect the agent's writes. Each fetch is bounded in bytes (the room the
// template's scratch_bytes leaves) and in time, and can be cancelled.
#pragma once

#include <atomic>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <string_view>

#include "common/content_id.h"
#include "common/net.h"
#include "common/status.h"

namespace prewarm::agent {

struct FetchLimits {
  uint64_t max_bytes = std::numeric_limits<uint64_t>::max();  // bytes the content may take
  int64_t timeout_ms = 60'000;                                // the whole fetch
  const std::atomic<bool>* cancel = nullptr;                  // set: stop at the next check
};

// One content file being written under a directory descriptor: "<id>.part", renamed to
// `id` by Commit(); removed when it is dropped uncommitted. Every origin writes through it.
class ContentFile {
 public:
  // Creates `id`'s parent directories under `dir_fd` and opens "<id>.part" there.
  // InvalidArgument: a bad id. ResourceExhausted: the file system is full.
  static absl::StatusOr<std::unique_ptr<ContentFile>> Open(int dir_fd, const std::string& id,
                                                           const FetchLimits& limits);
  ~ContentFile();
  ContentFile(const ContentFile&) = delete;
  ContentFile& operator=(const ContentFile&) = delete;

  // ResourceExhausted: past limits.max_bytes (nothing more is written) or the file system
  // is full. DeadlineExceeded / Cancelled: see Check().
  absl::Status Write(std::string_view data);
  // DeadlineExceeded once limits.timeout_ms has passed since Open; Cancelled once
  // limits.cancel is set.
  absl::Status Check() const;
  // Content of `length` bytes announced: ResourceExhausted now when it cannot fit.
  absl::Status Expect(uint64_t length) const;
  // Makes the file visible as `id`; returns its size.
  absl::StatusOr<uint64_t> Commit();
  uint64_t bytes() const { return bytes_; }

 private:
  ContentFile(ScopedFd dir, ScopedFd file, std::string id, std::string name,
              const FetchLimits& limits, int64_t deadline_ms);
  absl::Status TooBig(uint64_t bytes) const;

  ScopedFd dir_;   // the id's parent directory
  ScopedFd file_;  // "<name>.part" in it
  std::string id_, name_;
  FetchLimits limits_;
  int64_t deadline_ms_;  // steady clock
  uint64_t bytes_ = 0;
  bool committed_ = false;
};

class Origin {
 public:
  virtual ~Origin() = default;
  // Downloads content `id` (a relative path such as "video/seg1.ts") to `id` under
  // `dir_fd`, within `limits`; returns the bytes written. NotFound: the origin does not
  // have it. Unavailable: the origin cannot be reached (or fails). InvalidArgument: `id`
  // is not a valid content id (ValidateContentId). ResourceExhausted: the content does not
  // fit limits.max_bytes or the file system is full. DeadlineExceeded, Cancelled: see
  // FetchLimits. Nothing is left behind on an error.
  virtual absl::StatusOr<uint64_t> FetchTo(const std::string& id, int dir_fd,
                                           const FetchLimits& limits) = 0;
};

class Prober {
 public:
  virtual ~Prober() = default;
  // True when an HTTP GET of `path` on addr:port answers with a 2xx/3xx status.
  virtual bool Probe(const IpAddr& addr, uint16_t port, const std::string& path,
                     int timeout_ms) = 0;
};

// Origin over HTTP: GET <base_url>/<id>, streamed into a ContentFile.
std::unique_ptr<Origin> MakeHttpOrigin(const std::string& base_url);
std::unique_ptr<Prober> MakeHttpProber();

// Opens (creating it) `sub` under directory `parent` without following a symlink, for
// FetchTo's dir_fd: e.g. an instance's scratch content/ directory.
absl::StatusOr<ScopedFd> OpenContentDir(const std::string& parent, const std::string& sub);

// Removes content `id` under `dir_fd` (as FetchTo wrote it), never through a symlink.
absl::Status RemoveContent(int dir_fd, const std::string& id);

// Rejects ids that could escape the preload directory (common/content_id.h).
using ::prewarm::ValidateContentId;

}  // namespace prewarm::agent
