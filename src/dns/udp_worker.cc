// The UDP thread: poll(socket, stop) -> recvmmsg batch -> Answer each -> sendmmsg batch.
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "dns/workers.h"
#include "fmt/format.h"
#include "spdlog/spdlog.h"

namespace prewarm::dns {

void NameThisThread(const std::string& name) {
  std::string n = name.substr(0, 15);
  pthread_setname_np(pthread_self(), n.c_str());
}

IpAddr PeerAddress(const sockaddr_storage& ss) {
  absl::StatusOr<IpAddr> ip = IpAddr::FromSockaddr(ss);
  if (!ip.ok()) {
    return IpAddr();
  }
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
  if (ip->is_v6() && std::memcmp(ip->bytes(), kMapped, 12) == 0) {
    const uint8_t* b = ip->bytes() + 12;
    return IpAddr::V4((uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) |
                      b[3]);
  }
  return *ip;
}

UdpWorker::UdpWorker(ScopedFd socket, int stop_fd, Answerer& answerer, int batch, int index)
    : socket_(std::move(socket)),
      stop_fd_(stop_fd),
      answerer_(answerer),
      index_(index),
      in_(static_cast<size_t>(batch)),
      out_(static_cast<size_t>(batch)),
      peers_(static_cast<size_t>(batch)),
      iovs_(static_cast<size_t>(batch)),
      msgs_(static_cast<size_t>(batch)) {
  replies_.reserve(static_cast<size_t>(batch));
}

UdpWorker::~UdpWorker() { Join(); }

void UdpWorker::Start() {
  thread_ = std::thread([this] { Run(); });
}

void UdpWorker::Join() {
  if (thread_.joinable()) {
    thread_.join();
  }
}

void UdpWorker::Run() {
  NameThisThread(fmt::format("dns-udp-{}", index_));
  pollfd fds[2] = {{socket_.get(), POLLIN, 0}, {stop_fd_, POLLIN, 0}};
  while (true) {
    int n = ::poll(fds, 2, -1);
    if (n < 0 && errno != EINTR) {
      spdlog::error("dns-udp-{}: poll: {}", index_, std::strerror(errno));
      return;
    }
    if (fds[1].revents != 0) {
      return;
    }
    if (fds[0].revents != 0) {
      // A full batch means more may be queued: take it without another poll, a bounded
      // number of times so that a flood cannot keep the stop signal unseen.
      for (int i = 0; i < kBatchesPerPoll && Serve() == in_.size(); ++i) {
      }
    }
  }
}

// One batch: receive what is queued, answer, send the answers in one call. Returns how
// many datagrams it received.
size_t UdpWorker::Serve() {
  const size_t batch = in_.size();
  for (size_t i = 0; i < batch; ++i) {
    iovs_[i] = {in_[i].data(), kBufferSize};
    msgs_[i] = mmsghdr{};
    msgs_[i].msg_hdr = msghdr{&peers_[i], sizeof(sockaddr_storage), &iovs_[i], 1, nullptr, 0, 0};
  }
  int got =
      ::recvmmsg(socket_.get(), msgs_.data(), static_cast<unsigned>(batch), MSG_DONTWAIT, nullptr);
  if (got <= 0) {
    return 0;
  }
  replies_.clear();
  for (size_t i = 0; i < static_cast<size_t>(got); ++i) {
    if ((msgs_[i].msg_hdr.msg_flags & MSG_TRUNC) != 0) {
      continue;  // larger than any query we accept
    }
    ClientInfo client{PeerAddress(peers_[i]), std::nullopt, false};
    size_t len = answerer_.Answer({in_[i].data(), msgs_[i].msg_len}, client, out_[i]);
    if (len == 0) {
      continue;
    }
    iovs_[i] = {out_[i].data(), len};
    mmsghdr m{};
    m.msg_hdr = msghdr{&peers_[i], msgs_[i].msg_hdr.msg_namelen, &iovs_[i], 1, nullptr, 0, 0};
    replies_.push_back(m);
  }
  size_t sent = 0;
  while (sent < replies_.size()) {
    int n = ::sendmmsg(socket_.get(), replies_.data() + sent,
                       static_cast<unsigned>(replies_.size() - sent), MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      break;  // socket buffer full: UDP answers may be lost, clients retry
    }
    sent += n > 0 ? static_cast<size_t>(n) : 1;  // skip a datagram the kernel refused
  }
  return static_cast<size_t>(got);
}

}  // namespace prewarm::dns
