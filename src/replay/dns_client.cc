#include "replay/dns_client.h"

#include <poll.h>
#include <sys/socket.h>

#include <array>
#include <chrono>
#include <map>
#include <random>

#include "common/status.h"
#include "dns/codec.h"
#include "dns/name.h"
#include "dns/wire.h"
#include "dns/writer.h"
#include "fmt/format.h"

namespace prewarm::replay {
namespace {

// The client's DNS Cookie for `server` (RFC 7873 section 5.3): a random client cookie per
// thread and server, and the server cookie last received with it. Each replay thread is
// a resolver of its own, as its queries would come from many resolvers.
dns::Cookie& CookieFor(const HostPort& server, std::mt19937& rng) {
  thread_local std::map<std::string, dns::Cookie> jar;
  auto [it, fresh] = jar.try_emplace(server.ToString());
  if (fresh) {
    for (uint8_t& b : it->second.client) b = static_cast<uint8_t>(rng());
  }
  return it->second;
}

}  // namespace

absl::StatusOr<DnsAnswer> QueryA(const HostPort& server, const std::string& name,
                                 const std::optional<Cidr>& ecs, const DnsQueryOptions& o) {
  auto qname = dns::Name::FromText(name);
  if (!qname.ok()) return absl::InvalidArgumentError(fmt::format("bad name '{}'", name));
  thread_local std::mt19937 rng{std::random_device{}()};
  dns::Message q;
  q.header.id = static_cast<uint16_t>(rng());
  q.questions.push_back(dns::Question{*qname, dns::rrtype::kA, dns::kClassIN});
  dns::Edns edns;
  edns.udp_size = 1232;
  if (ecs) edns.ecs = dns::ClientSubnet{ecs->base, static_cast<uint8_t>(ecs->prefix), 0};
  dns::Cookie& cookie = CookieFor(server, rng);
  std::array<uint8_t, 512> out{};
  size_t len = 0;
  auto encode = [&]() -> absl::Status {
    edns.cookie = cookie;
    q.edns = edns;
    ASSIGN_OR_RETURN(len, dns::EncodeMessage(q, out));
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(encode());

  socklen_t salen = 0;
  sockaddr_storage sa = server.addr.ToSockaddr(server.port, &salen);
  ScopedFd fd(::socket(sa.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return ErrnoStatus(errno, "socket");
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&sa), salen) != 0) {
    return ErrnoStatus(errno, fmt::format("connect {}", server.ToString()));
  }
  std::array<uint8_t, 4096> in{};
  for (int attempt = 0; attempt < std::max(1, o.tries); ++attempt) {
    if (attempt > 0) RETURN_IF_ERROR(encode());  // with the server cookie learnt meanwhile
    if (::send(fd.get(), out.data(), len, 0) < 0) {
      return ErrnoStatus(errno, fmt::format("send to {}", server.ToString()));
    }
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(o.timeout_ms);
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                            deadline - std::chrono::steady_clock::now())
                            .count();
      if (left <= 0) break;
      pollfd p{fd.get(), POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
      ssize_t got = ::recv(fd.get(), in.data(), in.size(), 0);
      if (got < 0) {
        if (errno == EINTR) continue;
        // ICMP port unreachable: nothing listens there.
        return ErrnoStatus(errno, server.ToString());
      }
      auto m = dns::ParseMessage(std::span<const uint8_t>(in.data(), static_cast<size_t>(got)));
      if (!m.ok() || m->header.id != q.header.id) continue;  // late or foreign: keep waiting
      if (m->questions.size() != 1 || !(m->questions[0] == q.questions[0])) {
        return absl::DataLossError(
            fmt::format("{}: the reply's question is not ours", server.ToString()));
      }
      // Keep the server cookie that came back with our client cookie: later queries carry
      // it and are exempt from the server's response rate limit.
      bool new_cookie = false;
      if (m->edns && m->edns->cookie && m->edns->cookie->client == cookie.client &&
          m->edns->cookie->server_size > 0 && !(*m->edns->cookie == cookie)) {
        cookie = *m->edns->cookie;
        new_cookie = true;
      }
      if (m->rcode() == static_cast<uint16_t>(dns::Rcode::kBadCookie) && new_cookie)
        break;  // retry at once with it
      if (m->header.flags & dns::Header::kTc) {
        return absl::UnavailableError(fmt::format("{}: truncated reply", server.ToString()));
      }
      DnsAnswer a;
      a.rcode = m->rcode();
      for (const auto& rr : m->answers) {
        if (rr.type != dns::rrtype::kA) continue;
        if (a.addresses.empty()) a.ttl = rr.ttl;
        a.addresses.push_back(std::get<IpAddr>(rr.data));
      }
      return a;
    }
  }
  return absl::DeadlineExceededError(fmt::format("no answer from {} in {} tries of {} ms",
                                                 server.ToString(), o.tries, o.timeout_ms));
}

}  // namespace prewarm::replay
