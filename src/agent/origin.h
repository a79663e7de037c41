// Where preloaded content comes from, and how readiness is checked: both behind narrow
// interfaces so the agent's tests and the simulator can use in-process fakes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/content_id.h"
#include "common/net.h"
#include "common/status.h"

namespace prewarm::agent {

class Origin {
 public:
  virtual ~Origin() = default;
  // Downloads content `id` (a relative path such as "video/seg1.ts") to `dest_path`.
  // NotFound: the origin does not have it. Unavailable: the origin cannot be reached (or
  // fails). InvalidArgument: `id` is not a valid content id (ValidateContentId).
  // ResourceExhausted: `dest_path`'s file system is full (nothing is left behind).
  virtual absl::Status FetchTo(const std::string& id, const std::string& dest_path) = 0;
};

class Prober {
 public:
  virtual ~Prober() = default;
  // True when an HTTP GET of `path` on addr:port answers with a 2xx/3xx status.
  virtual bool Probe(const IpAddr& addr, uint16_t port, const std::string& path,
                     int timeout_ms) = 0;
};

// Origin over HTTP: GET <base_url>/<id>, streamed to a temporary file then renamed.
std::unique_ptr<Origin> MakeHttpOrigin(const std::string& base_url);
std::unique_ptr<Prober> MakeHttpProber();

// Rejects ids that could escape the preload directory (common/content_id.h).
using ::prewarm::ValidateContentId;

}  // namespace prewarm::agent
