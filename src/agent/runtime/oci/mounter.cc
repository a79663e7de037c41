#include "agent/runtime/oci/mounter.h"

#include <sys/mount.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <sstream>

#include "fmt/format.h"

namespace prewarm::agent::oci {
namespace {

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string Unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      int v = (s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0');
      out.push_back(static_cast<char>(v));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// overlayfs without an upper layer needs two lowers; one layer is a read-only bind.
absl::Status BindReadOnly(const std::string& source, const std::string& target) {
  if (::mount(source.c_str(), target.c_str(), nullptr, MS_BIND, nullptr) != 0) {
    return ErrnoStatus(errno, fmt::format("bind {} at {}", source, target));
  }
  unsigned long ro = MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NODEV | MS_NOSUID;
  if (::mount(nullptr, target.c_str(), nullptr, ro, nullptr) != 0) {
    int err = errno;
    ::umount2(target.c_str(), MNT_DETACH);
    return ErrnoStatus(err, "remount read-only " + target);
  }
  return absl::OkStatus();
}

}  // namespace

std::vector<std::string> ParseMountsUnder(const std::string& mountinfo, const std::string& dir) {
  std::vector<std::string> out;
  std::istringstream lines(mountinfo);
  std::string line;
  std::string prefix = dir.back() == '/' ? dir : dir + "/";
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::string id, parent, devno, root, mount_point;
    if (!(fields >> id >> parent >> devno >> root >> mount_point)) continue;
    mount_point = Unescape(mount_point);
    if (mount_point == dir || mount_point.rfind(prefix, 0) == 0) out.push_back(mount_point);
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  return out;
}

namespace {

absl::StatusOr<std::string> LowerDirOption(const std::vector<std::string>& lower_dirs) {
  if (lower_dirs.empty()) return absl::InvalidArgumentError("overlay needs at least one layer");
  std::string lower;
  for (const auto& d : lower_dirs) {
    if (d.find_first_of(":,") != std::string::npos) {
      return absl::InvalidArgumentError("layer path contains ':' or ',': " + d);
    }
    lower += (lower.empty() ? "" : ":") + d;
  }
  return "lowerdir=" + lower;
}

}  // namespace

absl::Status RealMounter::MountOverlay(const std::vector<std::string>& lower_dirs,
                                       const std::string& target) {
  ASSIGN_OR_RETURN(std::string opts, LowerDirOption(lower_dirs));
  if (lower_dirs.size() == 1) return BindReadOnly(lower_dirs[0], target);
  if (::mount("overlay", target.c_str(), "overlay", MS_RDONLY | MS_NODEV | MS_NOSUID,
              opts.c_str()) != 0) {
    return ErrnoStatus(errno, fmt::format("mount overlay at {} ({})", target, opts));
  }
  return absl::OkStatus();
}

absl::Status RealMounter::MountWritableOverlay(const std::vector<std::string>& lower_dirs,
                                               const std::string& upper_dir, const std::string& work_dir,
                                               const std::string& target) {
  ASSIGN_OR_RETURN(std::string opts, LowerDirOption(lower_dirs));
  for (const std::string& d : {upper_dir, work_dir}) {
    if (d.find_first_of(":,") != std::string::npos) return absl::InvalidArgumentError("',' or ':' in " + d);
  }
  opts += fmt::format(",upperdir={},workdir={}", upper_dir, work_dir);
  if (::mount("overlay", target.c_str(), "overlay", MS_NODEV | MS_NOSUID, opts.c_str()) != 0) {
    return ErrnoStatus(errno, fmt::format("mount overlay at {} ({})", target, opts));
  }
  return absl::OkStatus();
}

absl::Status RealMounter::MountTmpfs(const std::string& target, uint64_t size_bytes, uid_t uid,
                                     gid_t gid, mode_t mode) {
  std::string opts = fmt::format("size={},mode={:o},uid={},gid={}", size_bytes, mode, uid, gid);
  if (::mount("tmpfs", target.c_str(), "tmpfs", MS_NODEV | MS_NOSUID, opts.c_str()) != 0) {
    return ErrnoStatus(errno, fmt::format("mount tmpfs at {} ({})", target, opts));
  }
  return absl::OkStatus();
}

absl::Status RealMounter::Unmount(const std::string& target, bool lazy) {
  if (::umount2(target.c_str(), lazy ? MNT_DETACH : 0) == 0) return absl::OkStatus();
  if (errno == EINVAL || errno == ENOENT) return absl::OkStatus();  // not mounted
  return ErrnoStatus(errno, "umount " + target);
}

absl::StatusOr<std::vector<std::string>> RealMounter::MountsUnder(const std::string& dir) {
  std::ifstream in("/proc/self/mountinfo");
  if (!in) return absl::InternalError("cannot read /proc/self/mountinfo");
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseMountsUnder(ss.str(), dir);
}

}  // namespace prewarm::agent::oci
