#include "agent/origin.h"

#include <fcntl.h>
#include <httplib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "fmt/format.h"
#include "workload/queue_wait.h"

namespace prewarm::agent {
namespace {

int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

absl::Status WriteError(int err, const std::string& id) {
  // A full file system is not an origin failure: the agent may make room and retry.
  if (err == ENOSPC || err == EDQUOT) {
    return absl::ResourceExhaustedError(
        fmt::format("writing {}: no space left in the scratch", id));
  }
  return ErrnoStatus(err, fmt::format("writing {}", id));
}

// Opens directory `name` under `parent`, creating it; never through a symlink.
absl::StatusOr<ScopedFd> OpenDirAt(int parent, const std::string& name, const std::string& id) {
  if (::mkdirat(parent, name.c_str(), 0755) != 0 && errno != EEXIST) return WriteError(errno, id);
  ScopedFd fd(::openat(parent, name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus(errno, fmt::format("writing {}: directory {}", id, name));
  return fd;
}

// 404 / 410: the origin does not have it (that preload fails). 5xx: the origin is not
// working (like unreachable). Anything else: this fetch failed.
absl::Status HttpError(int status, const std::string& what) {
  if (status == 404 || status == 410) return absl::NotFoundError(what);
  if (status >= 500) return absl::UnavailableError(what);
  return absl::FailedPreconditionError(what);
}

}  // namespace

absl::StatusOr<ScopedFd> OpenContentDir(const std::string& parent, const std::string& sub) {
  ScopedFd p(::open(parent.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!p.valid()) return ErrnoStatus(errno, "open " + parent);
  return OpenDirAt(p.get(), sub, parent + "/" + sub);
}

absl::Status RemoveContent(int dir_fd, const std::string& id) {
  RETURN_IF_ERROR(ValidateContentId(id));
  ScopedFd dir(::fcntl(dir_fd, F_DUPFD_CLOEXEC, 0));
  if (!dir.valid()) return ErrnoStatus(errno, "dup");
  size_t start = 0;
  for (size_t slash = id.find('/'); slash != std::string::npos; slash = id.find('/', start)) {
    const std::string name = id.substr(start, slash - start);
    dir.reset(::openat(dir.get(), name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!dir.valid()) return ErrnoStatus(errno, fmt::format("removing {}: directory {}", id, name));
    start = slash + 1;
  }
  if (::unlinkat(dir.get(), id.substr(start).c_str(), 0) != 0) {
    return ErrnoStatus(errno, fmt::format("removing {}", id));
  }
  return absl::OkStatus();
}

ContentFile::ContentFile(ScopedFd dir, ScopedFd file, std::string id, std::string name,
                         const FetchLimits& limits, int64_t deadline_ms)
    : dir_(std::move(dir)),
      file_(std::move(file)),
      id_(std::move(id)),
      name_(std::move(name)),
      limits_(limits),
      deadline_ms_(deadline_ms) {}

absl::StatusOr<std::unique_ptr<ContentFile>> ContentFile::Open(int dir_fd, const std::string& id,
                                                               const FetchLimits& limits) {
  RETURN_IF_ERROR(ValidateContentId(id));
  if (limits.cancel != nullptr && limits.cancel->load()) {
    return absl::CancelledError(fmt::format("{}: fetch cancelled", id));
  }
  const int64_t deadline = SteadyMs() + limits.timeout_ms;
  ScopedFd dir(::fcntl(dir_fd, F_DUPFD_CLOEXEC, 0));
  if (!dir.valid()) return ErrnoStatus(errno, "dup");
  // A valid id has non-empty segments, none "." or "..".
  size_t start = 0;
  for (size_t slash = id.find('/'); slash != std::string::npos; slash = id.find('/', start)) {
    ASSIGN_OR_RETURN(dir, OpenDirAt(dir.get(), id.substr(start, slash - start), id));
    start = slash + 1;
  }
  std::string name = id.substr(start);
  std::string part = name + ".part";
  ScopedFd file(::openat(dir.get(), part.c_str(),
                         O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (!file.valid()) return WriteError(errno, id);
  return std::unique_ptr<ContentFile>(
      new ContentFile(std::move(dir), std::move(file), id, std::move(name), limits, deadline));
}

ContentFile::~ContentFile() {
  if (committed_) return;
  file_.reset();
  ::unlinkat(dir_.get(), (name_ + ".part").c_str(), 0);
}

absl::Status ContentFile::TooBig(uint64_t bytes) const {
  return absl::ResourceExhaustedError(
      fmt::format("{}: {} bytes or more, over the {} bytes left of the template's scratch_bytes",
                  id_, bytes, limits_.max_bytes));
}

absl::Status ContentFile::Check() const {
  if (limits_.cancel != nullptr && limits_.cancel->load()) {
    return absl::CancelledError(fmt::format("{}: fetch cancelled", id_));
  }
  if (SteadyMs() > deadline_ms_) {
    return absl::DeadlineExceededError(
        fmt::format("{}: fetch took longer than {} ms", id_, limits_.timeout_ms));
  }
  return absl::OkStatus();
}

absl::Status ContentFile::Expect(uint64_t length) const {
  return length > limits_.max_bytes ? TooBig(length) : absl::OkStatus();
}

absl::Status ContentFile::Write(std::string_view data) {
  RETURN_IF_ERROR(Check());
  if (data.size() > limits_.max_bytes - bytes_) return TooBig(bytes_ + data.size());
  while (!data.empty()) {
    ssize_t n = ::write(file_.get(), data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return WriteError(errno, id_);
    bytes_ += static_cast<uint64_t>(n);
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> ContentFile::Commit() {
  RETURN_IF_ERROR(Check());
  if (::close(file_.release()) != 0) return WriteError(errno, id_);
  if (::renameat(dir_.get(), (name_ + ".part").c_str(), dir_.get(), name_.c_str()) != 0) {
    return ErrnoStatus(errno, fmt::format("writing {}: rename", id_));
  }
  committed_ = true;
  return bytes_;
}

namespace {

class HttpOrigin final : public Origin {
 public:
  // httplib::Client takes scheme://host:port; any path in the base URL is a prefix of
  // every content path. The URL is split once here.
  explicit HttpOrigin(std::string base) {
    while (!base.empty() && base.back() == '/') base.pop_back();
    size_t scheme = base.find("://");
    size_t slash = base.find('/', scheme == std::string::npos ? 0 : scheme + 3);
    host_ = slash == std::string::npos ? base : base.substr(0, slash);
    prefix_ = slash == std::string::npos ? "" : base.substr(slash);
  }

  absl::StatusOr<uint64_t> FetchTo(const std::string& id, int dir_fd,
                                   const FetchLimits& limits) override {
    ASSIGN_OR_RETURN(std::unique_ptr<ContentFile> file, ContentFile::Open(dir_fd, id, limits));
    httplib::Client client(host_);
    client.set_connection_timeout(2, 0);
    // Per read; the whole fetch is bounded by the file's deadline, checked on every chunk.
    const int64_t read_ms = std::clamp<int64_t>(limits.timeout_ms, 1, 30'000);
    client.set_read_timeout(read_ms / 1000, (read_ms % 1000) * 1000);
    const std::string path = prefix_ + "/" + id;
    const std::string what = fmt::format("origin {}{}", host_, path);
    absl::Status failed;  // why a handler stopped the transfer
    auto res = client.Get(
        path,
        [&](const httplib::Response& r) {
          if (r.status != 200) {
            failed = HttpError(r.status, fmt::format("{}: HTTP {}", what, r.status));
          } else if (r.has_header("Content-Length")) {
            std::optional<int64_t> len = ParseInt(r.get_header_value("Content-Length"));
            if (len && *len >= 0) failed = file->Expect(static_cast<uint64_t>(*len));
          }
          return failed.ok();
        },
        [&](const char* data, size_t len) {
          failed = file->Write(std::string_view(data, len));
          return failed.ok();
        });
    if (!failed.ok()) return failed;
    if (!res) {
      return absl::UnavailableError(fmt::format("{}: {}", what, httplib::to_string(res.error())));
    }
    if (res->status != 200)
      return HttpError(res->status, fmt::format("{}: HTTP {}", what, res->status));
    return file->Commit();
  }

 private:
  std::string host_;    // scheme://host:port
  std::string prefix_;  // path of the base URL, "" or "/x/y"
};

class HttpProber final : public Prober {
 public:
  bool Probe(const IpAddr& addr, uint16_t port, const std::string& path, int timeout_ms) override {
    httplib::Client client(addr.ToString(), port);
    client.set_connection_timeout(0, static_cast<time_t>(timeout_ms) * 1000);
    client.set_read_timeout(0, static_cast<time_t>(timeout_ms) * 1000);
    // Marked, so the workload does not count the probe as demand for the probed content.
    auto res = client.Get(path, {{workload::kProbeHeader, "1"}});
    return res && res->status >= 200 && res->status < 400;
  }
};

}  // namespace

std::unique_ptr<Origin> MakeHttpOrigin(const std::string& base_url) {
  return std::make_unique<HttpOrigin>(base_url);
}

std::unique_ptr<Prober> MakeHttpProber() { return std::make_unique<HttpProber>(); }

}  // namespace prewarm::agent
