#include "dns/cookie.h"

#include <cstring>

namespace prewarm::dns {
namespace {

constexpr uint8_t kVersion = 1;

// client cookie | version | reserved | timestamp | client IP: at most 8 + 8 + 16 bytes.
uint64_t CookieHash(const CookieSecret& secret, std::span<const uint8_t> client,
                    std::span<const uint8_t> version_to_timestamp, const IpAddr& ip) {
  std::array<uint8_t, 32> msg;
  std::memcpy(msg.data(), client.data(), 8);
  std::memcpy(msg.data() + 8, version_to_timestamp.data(), 8);
  std::memcpy(msg.data() + 16, ip.bytes(), ip.size());
  return SipHash24(secret, {msg.data(), 16 + ip.size()});
}

void StoreLe64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) {
    p[i] = static_cast<uint8_t>(v >> (8 * i));
  }
}

}  // namespace

ServerCookie MakeServerCookie(const CookieSecret& secret,
                              std::span<const uint8_t, Cookie::kClientSize> client,
                              const IpAddr& client_ip, uint32_t timestamp) {
  ServerCookie c{};
  c[0] = kVersion;
  Store32(&c[4], timestamp);
  StoreLe64(&c[8], CookieHash(secret, client, {c.data(), 8}, client_ip));
  return c;
}

bool ServerCookieHashMatches(const CookieSecret& secret, const Cookie& cookie,
                             const IpAddr& client_ip) {
  if (cookie.server_size != kServerCookieSize || cookie.server[0] != kVersion) {
    return false;
  }
  std::array<uint8_t, 8> hash;
  StoreLe64(hash.data(), CookieHash(secret, cookie.client, {cookie.server.data(), 8}, client_ip));
  return std::memcmp(hash.data(), cookie.server.data() + 8, 8) == 0;
}

ServerCookies::ServerCookies(CookieOptions options)
    : options_(options), master_(options.master ? *options.master : RandomSipKey()) {
  if (options_.secret_rotate_s == 0) {
    options_.secret_rotate_s = 1;
  }
}

CookieSecret ServerCookies::SecretAt(uint32_t t) const {
  std::array<uint8_t, 5> in;
  Store32(in.data(), t / options_.secret_rotate_s);
  CookieSecret s;
  in[4] = 0;
  StoreLe64(s.data(), SipHash24(master_, in));
  in[4] = 1;
  StoreLe64(s.data() + 8, SipHash24(master_, in));
  return s;
}

CookieCheck ServerCookies::Check(const Cookie& query, const IpAddr& client_ip,
                                 uint32_t now_s) const {
  CookieCheck r;
  r.reply.client = query.client;
  bool echo = false;
  if (query.server_size != 0) {
    r.status = CookieStatus::kInvalid;
    const uint32_t ts = Load32(query.server.data() + 4);
    // Serial-number arithmetic (RFC 1982), as RFC 9018 §4.3 asks.
    const int64_t age = static_cast<int32_t>(now_s - ts);
    const int64_t period = ts / options_.secret_rotate_s;
    const int64_t current = now_s / options_.secret_rotate_s;
    if (age <= kMaxAgeS && age >= -int64_t{kMaxAheadS} && period >= current - 1 &&
        period <= current + 1 && ServerCookieHashMatches(SecretAt(ts), query, client_ip)) {
      r.status = CookieStatus::kValid;
      echo = age < kRefreshAgeS && period == current && query.server[1] == 0 &&
             query.server[2] == 0 && query.server[3] == 0;
    }
  }
  if (echo) {
    r.reply.server_size = query.server_size;
    r.reply.server = query.server;
  } else {
    ServerCookie fresh = MakeServerCookie(SecretAt(now_s), query.client, client_ip, now_s);
    r.reply.server_size = kServerCookieSize;
    std::memcpy(r.reply.server.data(), fresh.data(), fresh.size());
  }
  return r;
}

}  // namespace prewarm::dns
