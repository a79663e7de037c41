#include "agent/output_log.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <poll.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>

#include "fmt/format.h"

namespace prewarm::agent {
namespace {

// Reads `n` bytes at `offset` (fewer at the end of the file).
absl::StatusOr<std::string> ReadAt(int fd, uint64_t offset, uint64_t n, const std::string& what) {
  std::string out(n, '\0');
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::pread(fd, out.data() + got, n - got, static_cast<off_t>(offset + got));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return ErrnoStatus(errno, "read " + what);
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  out.resize(got);
  return out;
}

absl::Status WriteAll(int fd, std::string_view data, const std::string& what) {
  while (!data.empty()) {
    ssize_t w = ::write(fd, data.data(), data.size());
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return ErrnoStatus(errno, "write " + what);
    data.remove_prefix(static_cast<size_t>(w));
  }
  return absl::OkStatus();
}

}  // namespace

OutputLog::OutputLog(std::string path, uint64_t cap_bytes)
    : path_(std::move(path)), half_(std::max<uint64_t>(cap_bytes / 2, 1)) {}

absl::Status OutputLog::Rotate() {
  fd_.reset();
  if (::rename(path_.c_str(), (path_ + ".1").c_str()) != 0 && errno != ENOENT) {
    return ErrnoStatus(errno, "rename " + path_);
  }
  older_ = current_;
  current_ = 0;
  return absl::OkStatus();
}

absl::Status OutputLog::Append(std::string_view data) {
  std::lock_guard<std::mutex> l(mu_);
  total_ += data.size();
  if (!error_.ok()) return error_;
  // A half or more at once: it replaces everything kept (at most its last two halves).
  if (data.size() >= half_) {
    if (data.size() > 2 * half_) data = data.substr(data.size() - 2 * half_);
    fd_.reset();  // <path> is opened again, truncated
    ::unlink((path_ + ".1").c_str());
    older_ = current_ = 0;
  }
  absl::Status st;
  while (!data.empty() && st.ok()) {
    if (current_ >= half_) st = Rotate();
    if (!st.ok()) break;
    if (!fd_.valid()) {
      fd_.reset(::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640));
      if (!fd_.valid()) {
        st = ErrnoStatus(errno, "open " + path_);
        break;
      }
    }
    std::string_view part = data.substr(0, half_ - current_);
    st = WriteAll(fd_.get(), part, path_);
    if (st.ok()) {
      current_ += part.size();
      data.remove_prefix(part.size());
    }
  }
  if (!st.ok()) error_ = st;
  return st;
}

absl::StatusOr<OutputTail> OutputLog::Read() const {
  std::lock_guard<std::mutex> l(mu_);
  OutputTail out;
  if (older_ > 0) {
    ScopedFd older(::open((path_ + ".1").c_str(), O_RDONLY | O_CLOEXEC));
    if (!older.valid()) return ErrnoStatus(errno, "open " + path_ + ".1");
    ASSIGN_OR_RETURN(out.data, ReadAt(older.get(), 0, older_, path_ + ".1"));
  }
  if (current_ > 0) {
    ScopedFd current(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
    if (!current.valid()) return ErrnoStatus(errno, "open " + path_);
    ASSIGN_OR_RETURN(std::string now, ReadAt(current.get(), 0, current_, path_));
    out.data += now;
  }
  out.dropped = total_ - std::min<uint64_t>(total_, out.data.size());
  return out;
}

OutputPump::OutputPump(ScopedFd read_end, std::shared_ptr<OutputLog> log)
    : fd_(std::move(read_end)), log_(std::move(log)), thread_([this] { Run(); }) {}

OutputPump::~OutputPump() { Stop(); }

void OutputPump::Stop() {
  stopping_.store(true);
  if (thread_.joinable()) thread_.join();
}

void OutputPump::Run() {
  pthread_setname_np(pthread_self(), "agent-output");
  char buf[16384];
  bool warned = false;
  // Once stopping, what is in the pipe, but not a writer that never stops.
  int reads_after_stop = 0;
  for (;;) {
    pollfd p{fd_.get(), POLLIN, 0};
    int pr = ::poll(&p, 1, stopping_.load() ? 0 : 100);
    if (pr < 0 && errno != EINTR) return;
    if (stopping_.load() && (pr == 0 || ++reads_after_stop > 64)) return;
    if (pr <= 0) continue;
    ssize_t r = ::read(fd_.get(), buf, sizeof buf);
    if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (r <= 0) return;  // EOF: every writer is gone
    absl::Status st = log_->Append(std::string_view(buf, static_cast<size_t>(r)));
    if (!st.ok() && !warned) {
      warned = true;  // the workload's output is read on (and dropped): it never blocks
      fmt::print(stderr, "agent: keeping output in {}: {}\n", log_->path(), st.message());
    }
  }
}

absl::StatusOr<OutputPipe> PipeInto(std::shared_ptr<OutputLog> log) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return ErrnoStatus(errno, "pipe2");
  OutputPipe p;
  ScopedFd read_end(fds[0]);
  p.write_end.reset(fds[1]);
  p.pump = std::make_unique<OutputPump>(std::move(read_end), std::move(log));
  return p;
}

absl::StatusOr<OutputTail> ReadFileTail(const std::string& path, uint64_t cap) {
  ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return OutputTail{};
    return ErrnoStatus(errno, "open " + path);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus(errno, "stat " + path);
  uint64_t size = static_cast<uint64_t>(st.st_size);
  uint64_t from = size > cap ? size - cap : 0;
  OutputTail out;
  ASSIGN_OR_RETURN(out.data, ReadAt(fd.get(), from, size - from, path));
  out.dropped = from;
  return out;
}

absl::Status TrimFile(const std::string& path, uint64_t cap) {
  ScopedFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd.valid()) return errno == ENOENT ? absl::OkStatus() : ErrnoStatus(errno, "open " + path);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus(errno, "stat " + path);
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  uint64_t size = static_cast<uint64_t>(st.st_size);
  uint64_t end = size > cap ? (size - cap) / page * page : 0;
  // Already freed up to there (a file's blocks in use say what is left to free).
  if (end == 0 || static_cast<uint64_t>(st.st_blocks) * 512 <= cap + page) return absl::OkStatus();
  if (::fallocate(fd.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
                  static_cast<off_t>(end)) != 0) {
    return ErrnoStatus(errno, "free the start of " + path);
  }
  return absl::OkStatus();
}

std::string_view LastLines(std::string_view text, uint32_t lines) {
  if (lines == 0) return text;
  size_t end = text.size();
  if (end > 0 && text[end - 1] == '\n') --end;  // the last line's own newline
  size_t pos = end;
  for (uint32_t n = 0; n < lines; ++n) {
    size_t nl = pos == 0 ? std::string_view::npos : text.rfind('\n', pos - 1);
    if (nl == std::string_view::npos) return text;
    pos = nl;
  }
  return text.substr(pos + 1);
}

std::string ValidUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    bool ok = n > 0 && i + n <= s.size();
    for (size_t k = 1; ok && k < n; ++k) ok = (static_cast<unsigned char>(s[i + k]) >> 6) == 0x2;
    if (ok && n > 1) {
      // No overlong forms, surrogates or code points past U+10FFFF.
      uint32_t cp = c & (0xFF >> (n + 1));
      for (size_t k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
      static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
      ok = cp >= kMin[n] && cp <= 0x10FFFF && (cp < 0xD800 || cp > 0xDFFF);
    }
    if (ok) {
      out.append(s.substr(i, n));
      i += n;
    } else {
      out.append("\xEF\xBF\xBD");
      ++i;
    }
  }
  return out;
}

}  // namespace prewarm::agent
