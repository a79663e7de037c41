// Fakes shared by the agent's tests: an origin serving from memory and a prober whose
// health the test can turn off. Both behave like the real ones otherwise.
#pragma once

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "agent/origin.h"

namespace prewarm::agent {

// Content served from memory, written to the destination as the real origin would.
// `down` makes it answer like an origin that cannot be reached.
class MapOrigin final : public Origin {
 public:
  absl::Status FetchTo(const std::string& id, const std::string& dest) override {
    RETURN_IF_ERROR(ValidateContentId(id));
    if (down.load()) return absl::UnavailableError("origin http://127.0.0.1:1: Connection");
    std::string body;
    {
      std::lock_guard<std::mutex> l(mu);
      auto it = content.find(id);
      if (it == content.end()) return absl::NotFoundError("origin: HTTP 404 for " + id);
      body = it->second;
    }
    if (uint64_t limit = scratch_limit.load(); limit > 0) {
      // The files already under the instance's content/ directory, as a tmpfs counts them.
      std::filesystem::path root = dest.substr(0, dest.find("/content/") + 8);
      uint64_t used = 0;
      std::error_code ec;
      for (const auto& f : std::filesystem::recursive_directory_iterator(root, ec)) {
        if (f.is_regular_file() && f.path() != dest) used += f.file_size();
      }
      if (used + body.size() > limit) {
        return absl::ResourceExhaustedError("writing " + dest + ": no space left");
      }
    }
    std::filesystem::create_directories(std::filesystem::path(dest).parent_path());
    std::ofstream(dest) << body;
    return absl::OkStatus();
  }
  std::mutex mu;
  std::map<std::string, std::string> content;
  std::atomic<bool> down{false};
  // > 0: an instance's content/ directory holds at most this many bytes; a fetch that
  // would pass it fails as on a full tmpfs (ResourceExhausted, nothing written).
  std::atomic<uint64_t> scratch_limit{0};
};

// The real HTTP prober, except that once `healthy` is false every probe fails (a workload
// that still runs but no longer answers).
class SwitchProber final : public Prober {
 public:
  SwitchProber() : real_(MakeHttpProber()) {}
  bool Probe(const IpAddr& addr, uint16_t port, const std::string& path, int timeout_ms) override {
    return healthy.load() && real_->Probe(addr, port, path, timeout_ms);
  }
  std::atomic<bool> healthy{true};

 private:
  std::unique_ptr<Prober> real_;
};

}  // namespace prewarm::agent
