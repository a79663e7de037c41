// Sending a file descriptor over a unix socket (SCM_RIGHTS). Header-only and libc-only:
// prewarm-seccomp-exec is a static binary with no other library, and a forked child may
// call it (it only fills a message on the stack and calls sendmsg).
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstring>

namespace prewarm {

// Sends `len` bytes of `data` with `fd` attached (fd < 0: nothing attached); sendmsg's
// result, retried on EINTR. MSG_NOSIGNAL: a closed peer is EPIPE, not a signal.
inline ssize_t SendWithFd(int sock, const void* data, size_t len, int fd) {
  iovec iov = {const_cast<void*>(data), len};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (fd >= 0) {
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
  }
  ssize_t n;
  do {
    n = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  return n;
}

}  // namespace prewarm
