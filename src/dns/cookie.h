// DNS Cookies, the server's side (RFC 7873), with the interoperable server cookies of
// RFC 9018: Version (1) | Reserved (3 bytes, 0) | Timestamp (4, Unix seconds) |
// Hash (8) = SipHash-2-4(client cookie | version | reserved | timestamp | client IP,
// secret). Servers of an anycast set that share the secret accept each other's cookies.
//
// The secret rotates every `secret_rotate_s` without shared mutable state: the secret of
// period p (= timestamp / secret_rotate_s) is derived from a master key drawn at start,
// SipHash(master, p | 0) | SipHash(master, p | 1). A cookie is verified with the secret of
// the period its own timestamp falls in, accepted for the current and the previous
// period (and the next, for clocks a little ahead), so the previous secret stays valid
// for one more period after a rotation. The DNS threads share nothing but the read-only
// master key, so no lock is taken.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>

#include "common/net.h"
#include "dns/codec.h"
#include "dns/siphash.h"

namespace prewarm::dns {

inline constexpr size_t kServerCookieSize = 16;
using ServerCookie = std::array<uint8_t, kServerCookieSize>;
using CookieSecret = SipKey;

// RFC 9018 §4.2: a server cookie with version 1, reserved 0, made at `timestamp`.
ServerCookie MakeServerCookie(const CookieSecret& secret,
                              std::span<const uint8_t, Cookie::kClientSize> client,
                              const IpAddr& client_ip, uint32_t timestamp);

// True when `server` is a 16-byte version-1 cookie whose hash matches under `secret`.
// The reserved bytes are hashed as received (RFC 9018 Appendix A.3); time is not checked.
bool ServerCookieHashMatches(const CookieSecret& secret, const Cookie& cookie,
                             const IpAddr& client_ip);

struct CookieOptions {
  bool enabled = true;  // off: the COOKIE option is ignored like any unknown option
  uint32_t secret_rotate_s = 3600;
  // The master key; drawn from getrandom() when absent. Set it to share cookies across
  // the servers of an anycast set (their clocks must agree within minutes).
  std::optional<CookieSecret> master;
};

// What a query's COOKIE option was worth (RFC 7873 §5.2).
enum class CookieStatus : uint8_t {
  kClientOnly,  // no server cookie yet (§5.2.3)
  kInvalid,     // a server cookie we did not make, or one too old or too far ahead (§5.2.4)
  kValid,       // §5.2.5: exempt from response rate limiting
};

struct CookieCheck {
  CookieStatus status = CookieStatus::kClientOnly;
  Cookie reply;  // the COOKIE option to send back: the client cookie and our server cookie
};

class ServerCookies {
 public:
  explicit ServerCookies(CookieOptions options);

  // Classifies `query` from `client_ip` at Unix time `now_s` and builds the reply's
  // cookie: a valid cookie younger than half an hour made with the current period's secret
  // is echoed; anything else gets a fresh one (RFC 9018 §4.3).
  CookieCheck Check(const Cookie& query, const IpAddr& client_ip, uint32_t now_s) const;

  // The secret of the period that Unix time `t` falls in.
  CookieSecret SecretAt(uint32_t t) const;

  // RFC 9018 §4.3's window: older than this or further ahead than kMaxAheadS is invalid.
  static constexpr uint32_t kMaxAgeS = 3600;
  static constexpr uint32_t kMaxAheadS = 300;
  static constexpr uint32_t kRefreshAgeS = 1800;

 private:
  CookieOptions options_;
  CookieSecret master_;
};

}  // namespace prewarm::dns
