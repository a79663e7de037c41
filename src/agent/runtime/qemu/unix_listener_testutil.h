// Tests of the QEMU runtime's unix-socket clients (QMP, the serial console): a listening
// socket at a fresh path standing in for QEMU's.
#pragma once

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>

#include "common/net.h"
#include "fmt/format.h"

namespace prewarm::agent::qemu::testing {

// `prefix`-<pid>.sock in the temporary directory; any stale file there is removed first.
inline std::string UnixSocketPath(const std::string& prefix) {
  const std::string path =
      (std::filesystem::temp_directory_path() / fmt::format("{}-{}.sock", prefix, ::getpid()))
          .string();
  ::unlink(path.c_str());
  return path;
}

// A stream socket listening at `path` (backlog 1).
inline ScopedFd ListenUnix(const std::string& path) {
  ScopedFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0) << path;
  EXPECT_EQ(::listen(fd.get(), 1), 0) << path;
  return fd;
}

}  // namespace prewarm::agent::qemu::testing
