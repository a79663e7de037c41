#include "agent/runtime/oci/id_block.h"

#include <fcntl.h>
#include <sys/file.h>

#include <filesystem>

#include "fmt/format.h"
#include "spdlog/spdlog.h"

namespace prewarm::agent::oci {

HostIdBlock::HostIdBlock(uint32_t first_id, std::string lock_dir, std::string who)
    : first_id_(first_id), lock_dir_(std::move(lock_dir)), who_(std::move(who)) {}

absl::StatusOr<uint32_t> HostIdBlock::Base() {
  std::lock_guard<std::mutex> l(mu_);
  if (lock_.valid()) return base_;
  std::error_code ec;
  std::filesystem::create_directories(lock_dir_, ec);
  if (ec) return ErrnoStatus(ec.value(), "mkdir " + lock_dir_);
  uint64_t blocks = ((uint64_t{1} << 32) - first_id_) / kIdBlockSize;
  for (uint64_t b = 0; b < blocks; ++b) {
    uint64_t first = first_id_ + b * kIdBlockSize;
    std::string path = fmt::format("{}/ids-{}.lock", lock_dir_, first);
    ScopedFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!fd.valid()) return ErrnoStatus(errno, "open " + path);
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) == 0) {
      lock_ = std::move(fd);
      base_ = static_cast<uint32_t>(first);
      spdlog::info("{}: instances run as host ids {}.. ({})", who_, base_, path);
      return base_;
    }
    if (errno != EWOULDBLOCK) return ErrnoStatus(errno, "flock " + path);
  }
  return absl::ResourceExhaustedError(
      fmt::format("no free block of {} host ids from {} (all {} locked under {})", kIdBlockSize,
                  first_id_, blocks, lock_dir_));
}

absl::Status HostIdBlock::Claim(uint32_t slot) {
  if (slot >= kMaxUsernsSlots) {
    return absl::OutOfRangeError(
        fmt::format("slot {} is past {} (own host ids)", slot, kMaxUsernsSlots));
  }
  std::lock_guard<std::mutex> l(mu_);
  if (!live_.insert(slot).second) {
    return absl::AlreadyExistsError(fmt::format("slot {} is held by a live instance", slot));
  }
  return absl::OkStatus();
}

void HostIdBlock::Release(uint32_t slot) {
  std::lock_guard<std::mutex> l(mu_);
  live_.erase(slot);
}

}  // namespace prewarm::agent::oci
