#include "agent/runtime/cgroup.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/net.h"
#include "fmt/format.h"

namespace prewarm::agent {
namespace {

namespace fs = std::filesystem;

constexpr const char* kControllers[] = {"memory", "pids", "cpu"};

absl::Status WriteCgroupFile(const std::string& path, const std::string& value) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "open " + path);
  ssize_t n = ::write(fd, value.data(), value.size());
  int err = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(value.size()))
    return ErrnoStatus(n < 0 ? err : EIO, fmt::format("write '{}' to {}", value, path));
  return absl::OkStatus();
}

std::string ReadFirstLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

int64_t CpuQuotaUs(double cores) { return std::llround(cores * kCpuPeriodUs); }

// cpu.weight (v2) and cpu.shares (v1) of a weight where 100 is the default.
uint64_t V2Weight(uint32_t w) { return std::clamp<uint64_t>(w, 1, 10000); }
uint64_t V1Shares(uint32_t w) { return std::max<uint64_t>(2, uint64_t{w} * 1024 / 100); }

std::string Shown(std::optional<uint64_t> v) { return v ? std::to_string(*v) : "unreadable"; }

}  // namespace

std::optional<uint64_t> ReadCgroupNumber(const std::string& path) {
  std::ifstream in(path);
  std::string text;
  if (!(in >> text)) return std::nullopt;
  std::optional<int64_t> v = ParseInt(text);
  if (!v.has_value() || *v < 0) return std::nullopt;
  return static_cast<uint64_t>(*v);
}

bool Cgroups::v2() const {
  std::error_code ec;
  return fs::exists(root_ + "/cgroup.controllers", ec);
}

std::string Cgroups::Dir(std::string_view path, std::string_view controller) const {
  if (v2()) return fmt::format("{}/{}", root_, path);
  return fmt::format("{}/{}/{}", root_, controller, path);
}

std::vector<std::string> Cgroups::JoinDirs(std::string_view path) const {
  if (v2()) return {Dir(path, "")};
  std::vector<std::string> dirs;
  for (const char* c : kControllers) dirs.push_back(Dir(path, c));
  return dirs;
}

absl::Status Cgroups::Rename(std::string_view from, std::string_view to) const {
  std::vector<std::string> src = JoinDirs(from), dst = JoinDirs(to);
  for (size_t i = 0; i < src.size(); ++i) {
    if (::rename(src[i].c_str(), dst[i].c_str()) == 0) continue;
    const int err = errno;
    while (i-- > 0) (void)::rename(dst[i].c_str(), src[i].c_str());
    return ErrnoStatus(err, fmt::format("rename cgroup {} to {}", src.front(), dst.front()));
  }
  return absl::OkStatus();
}

absl::Status Cgroups::Create(std::string_view path, const CgroupLimits& limits) const {
  if (path.empty() || path.front() == '/' || path.find("..") != std::string_view::npos)
    return absl::InvalidArgumentError(fmt::format("cgroup path '{}' is not relative", path));
  const bool v2 = this->v2();
  if (v2) {
    // Each ancestor hands the controllers down to its children (a group with children
    // holds no process itself, so this is allowed all the way down).
    std::string dir = root_;
    size_t start = 0;
    for (;;) {
      RETURN_IF_ERROR(WriteCgroupFile(dir + "/cgroup.subtree_control", "+memory +pids +cpu"));
      size_t slash = path.find('/', start);
      if (slash == std::string_view::npos) break;
      dir = fmt::format("{}/{}", root_, path.substr(0, slash));
      if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
        return ErrnoStatus(errno, "mkdir " + dir);
      start = slash + 1;
    }
  }
  for (const std::string& dir : JoinDirs(path)) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return absl::InternalError(fmt::format("mkdir {}: {}", dir, ec.message()));
  }
  if (limits.memory_bytes > 0) {
    RETURN_IF_ERROR(
        WriteCgroupFile(Dir(path, "memory") + (v2 ? "/memory.max" : "/memory.limit_in_bytes"),
                        std::to_string(limits.memory_bytes)));
  }
  if (limits.pids > 0)
    RETURN_IF_ERROR(WriteCgroupFile(Dir(path, "pids") + "/pids.max", std::to_string(limits.pids)));
  std::string cpu = Dir(path, "cpu");
  if (limits.cpu_cores > 0) {
    int64_t quota = CpuQuotaUs(limits.cpu_cores);
    if (v2) {
      RETURN_IF_ERROR(WriteCgroupFile(cpu + "/cpu.max", fmt::format("{} {}", quota, kCpuPeriodUs)));
    } else {
      RETURN_IF_ERROR(WriteCgroupFile(cpu + "/cpu.cfs_period_us", std::to_string(kCpuPeriodUs)));
      RETURN_IF_ERROR(WriteCgroupFile(cpu + "/cpu.cfs_quota_us", std::to_string(quota)));
    }
  }
  if (limits.cpu_weight > 0) {
    RETURN_IF_ERROR(
        v2 ? WriteCgroupFile(cpu + "/cpu.weight", std::to_string(V2Weight(limits.cpu_weight)))
           : WriteCgroupFile(cpu + "/cpu.shares", std::to_string(V1Shares(limits.cpu_weight))));
  }
  return absl::OkStatus();
}

absl::Status Cgroups::CheckLimits(std::string_view path, const CgroupLimits& want) const {
  const bool v2 = this->v2();
  std::vector<std::string> wrong;
  auto expect = [&](const std::string& file, std::optional<uint64_t> got, uint64_t wanted) {
    if (got != wanted) wrong.push_back(fmt::format("{} = {} (want {})", file, Shown(got), wanted));
  };
  if (want.memory_bytes > 0) {
    std::string file = Dir(path, "memory") + (v2 ? "/memory.max" : "/memory.limit_in_bytes");
    uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
    expect(file, ReadCgroupNumber(file), want.memory_bytes / page * page);  // whole pages
  }
  if (want.pids > 0) {
    std::string file = Dir(path, "pids") + "/pids.max";
    expect(file, ReadCgroupNumber(file), want.pids);
  }
  std::string cpu = Dir(path, "cpu");
  if (want.cpu_cores > 0) {
    auto quota = static_cast<uint64_t>(CpuQuotaUs(want.cpu_cores));
    if (v2) {
      // "<quota> <period>", or "max <period>" without a quota.
      std::istringstream in(ReadFirstLine(cpu + "/cpu.max"));
      std::string q, p;
      in >> q >> p;
      if (q != std::to_string(quota) || p != std::to_string(kCpuPeriodUs)) {
        wrong.push_back(
            fmt::format("{}/cpu.max = '{} {}' (want '{} {}')", cpu, q, p, quota, kCpuPeriodUs));
      }
    } else {
      expect(cpu + "/cpu.cfs_period_us", ReadCgroupNumber(cpu + "/cpu.cfs_period_us"),
             kCpuPeriodUs);
      expect(cpu + "/cpu.cfs_quota_us", ReadCgroupNumber(cpu + "/cpu.cfs_quota_us"), quota);
    }
  }
  if (want.cpu_weight > 0) {
    std::string file = cpu + (v2 ? "/cpu.weight" : "/cpu.shares");
    expect(file, ReadCgroupNumber(file),
           v2 ? V2Weight(want.cpu_weight) : V1Shares(want.cpu_weight));
  }
  if (wrong.empty()) return absl::OkStatus();
  std::string text;
  for (const std::string& w : wrong) text += (text.empty() ? "" : ", ") + w;
  return absl::FailedPreconditionError(text);
}

absl::Status Cgroups::CheckMember(std::string_view path, pid_t pid) const {
  std::string want = fmt::format("/{}", path);
  std::ifstream in(fmt::format("/proc/{}/cgroup", pid));
  if (!in) return absl::NotFoundError(fmt::format("process {} is gone", pid));
  // "<id>:<controllers, comma separated>:<path>"; v2's line is "0::<path>".
  std::vector<std::string> found;
  for (std::string line; std::getline(in, line);) {
    size_t a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    std::string controllers = line.substr(a + 1, b - a - 1);
    std::string where = line.substr(b + 1);
    if (v2()) {
      if (line.starts_with("0::")) found.push_back(where);
      continue;
    }
    for (const char* c : kControllers) {
      std::istringstream list(controllers);
      for (std::string one; std::getline(list, one, ',');) {
        if (one == c) found.push_back(fmt::format("{}:{}", c, where));
      }
    }
  }
  std::vector<std::string> expected;
  if (v2()) {
    expected.push_back(want);
  } else {
    for (const char* c : kControllers) expected.push_back(fmt::format("{}:{}", c, want));
  }
  for (const std::string& e : expected) {
    if (std::find(found.begin(), found.end(), e) == found.end()) {
      std::string seen;
      for (const std::string& f : found) seen += (seen.empty() ? "" : ", ") + f;
      return absl::FailedPreconditionError(
          fmt::format("process {} is not in cgroup {} (want {}; it is in {})", pid, want, e, seen));
    }
  }
  return absl::OkStatus();
}

ResourceUsage Cgroups::Usage(std::string_view path) const {
  ResourceUsage u;
  u.memory_bytes =
      ReadCgroupNumber(Dir(path, "memory") + (v2() ? "/memory.current" : "/memory.usage_in_bytes"))
          .value_or(0);
  u.pids = static_cast<uint32_t>(ReadCgroupNumber(Dir(path, "pids") + "/pids.current").value_or(0));
  return u;
}

namespace {

// `dir` and every directory below it, children before their parents.
std::vector<std::string> Subtree(const std::string& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return {};
  std::vector<std::string> dirs;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->is_directory(ec)) dirs.push_back(it->path().string());
  }
  std::sort(dirs.begin(), dirs.end(), [](const auto& a, const auto& b) { return a > b; });
  dirs.push_back(dir);
  return dirs;
}

}  // namespace

int Cgroups::KillAll(std::string_view path) const {
  int n = 0;
  for (const std::string& dir : JoinDirs(path)) {
    for (const std::string& d : Subtree(dir)) {
      std::ifstream procs(d + "/cgroup.procs");
      for (pid_t pid; procs >> pid;) {
        if (pid > 0 && ::kill(pid, SIGKILL) == 0) ++n;
      }
    }
  }
  return n;
}

absl::Status Cgroups::Remove(std::string_view path) const {
  absl::Status result;
  for (const std::string& dir : JoinDirs(path)) {
    // Children first: a group's directory goes only when it has none. Its files are the
    // kernel's and go with it.
    for (const std::string& d : Subtree(dir)) {
      // A process that just died may still be leaving the group (its exit is not yet
      // fully accounted): EBUSY for a moment.
      int err = 0;
      for (int i = 0; i < 100; ++i) {
        err = ::rmdir(d.c_str()) == 0 ? 0 : errno;
        if (err != EBUSY) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      if (err != 0 && err != ENOENT && result.ok()) result = ErrnoStatus(err, "rmdir " + d);
    }
  }
  return result;
}

}  // namespace prewarm::agent
