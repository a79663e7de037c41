// Fakes shared by the agent's tests: an origin serving from memory and a prober whose
// health the test can turn off. Both behave like the real ones otherwise.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "agent/origin.h"

namespace prewarm::agent {

// Content served from memory, written through a ContentFile as the real origin writes it
// (the same byte limit, deadline and cancellation). `down` makes it answer like an origin
// that cannot be reached; `slow` ids like a slow origin (see Hold).
class MapOrigin final : public Origin {
 public:
  absl::StatusOr<uint64_t> FetchTo(const std::string& id, int dir_fd,
                                   const FetchLimits& limits) override {
    RETURN_IF_ERROR(ValidateContentId(id));
    if (down.load()) return absl::UnavailableError("origin http://127.0.0.1:1: Connection");
    std::string body;
    bool slow_one = false;
    {
      std::lock_guard<std::mutex> l(mu);
      auto it = content.find(id);
      if (it == content.end()) return absl::NotFoundError("origin: HTTP 404 for " + id);
      body = it->second;
      slow_one = slow.contains(id);
    }
    if (uint64_t limit = scratch_limit.load(); limit > 0) {
      // The files already under the content directory, as a tmpfs counts them.
      std::filesystem::path root =
          std::filesystem::read_symlink("/proc/self/fd/" + std::to_string(dir_fd));
      uint64_t used = 0;
      std::error_code ec;
      for (const auto& f : std::filesystem::recursive_directory_iterator(root, ec)) {
        if (f.is_regular_file() && f.path() != root / id) used += f.file_size();
      }
      if (used + body.size() > limit) {
        return absl::ResourceExhaustedError("writing " + id + ": no space left in the scratch");
      }
    }
    FetchLimits mine = limits;
    if (ignore_cancel.load()) mine.cancel = nullptr;
    ASSIGN_OR_RETURN(std::unique_ptr<ContentFile> file, ContentFile::Open(dir_fd, id, mine));
    RETURN_IF_ERROR(file->Expect(body.size()));
    if (slow_one) {
      // The first byte, then nothing until released (or the fetch is cancelled or late).
      RETURN_IF_ERROR(file->Write(body.substr(0, 1)));
      body.erase(0, 1);
      std::unique_lock<std::mutex> l(mu);
      ++waiting;
      cv.notify_all();
      while (!released) {
        cv.wait_for(l, std::chrono::milliseconds(5));
        absl::Status st = file->Check();
        if (!st.ok()) {
          --waiting;
          return st;
        }
      }
      --waiting;
    }
    RETURN_IF_ERROR(file->Write(body));
    return file->Commit();
  }
  // Waits (up to 15 s) until `n` fetches of slow ids are held.
  bool WaitHeld(int n) {
    std::unique_lock<std::mutex> l(mu);
    return cv.wait_for(l, std::chrono::seconds(15), [&] { return waiting >= n; });
  }
  // Lets every held fetch (and later ones) go on.
  void Release() {
    std::lock_guard<std::mutex> l(mu);
    released = true;
    cv.notify_all();
  }
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, std::string> content;
  std::set<std::string> slow;  // fetches of these ids are held until Release()
  int waiting = 0;             // fetches held now
  bool released = false;
  std::atomic<bool> down{false};
  // A slow origin that notices no cancellation: held fetches go on until Release().
  std::atomic<bool> ignore_cancel{false};
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
