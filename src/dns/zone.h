// The authoritative answering logic for the service zone, independent of transport.
// The orchestrator implements ServiceResolver; the server feeds queries to Authority.
//
// Answers, for names under `origin`:
//   apex SOA / NS (glue for in-zone NS hosts in additional), ANY -> SOA + NS
//   NS host names (e.g. ns1.<origin>) -> A / AAAA from the configured glue
//   <service>.<origin> -> ServiceResolver::Resolve; nullopt -> NXDOMAIN, no address of
//     the asked family -> NODATA (NOERROR + SOA)
//   anything deeper -> NXDOMAIN (no wildcards)
// Negative answers carry the SOA in authority with TTL min(apex_ttl, soa.minimum).
// Errors: malformed -> FORMERR (header only, id echoed); < 12 bytes or QR=1 -> dropped;
// opcode != QUERY -> NOTIMP; EDNS version > 0 -> BADVERS; class other than IN or ANY
// (QCLASS "*" is answered as IN), names outside the zone, AXFR/IXFR -> REFUSED; qtype
// OPT -> FORMERR.
//
// DNS Cookies (cookie.h, RFC 7873 §5.2): a COOKIE option of a bad length -> FORMERR; any
// other is answered normally with the client cookie and our server cookie in the OPT,
// over UDP and TCP alike. Response rate limiting (rrl.h) applies to UDP responses to
// queries without a valid server cookie: over the limit, a response is dropped or
// slipped. A slipped response is BADCOOKIE (with a fresh server cookie, so the client
// retries at once, exempt) when the query had a COOKIE option, else TC=1 with no records
// (the client retries over TCP).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/net.h"
#include "common/status.h"
#include "dns/answer_timer.h"
#include "dns/answerer.h"
#include "dns/codec.h"
#include "dns/cookie.h"
#include "dns/rrl.h"
#include "dns/stats.h"

namespace prewarm::dns {

struct ServiceAnswer {
  std::vector<IpAddr> addresses;  // may mix families; the Authority filters by qtype
  uint32_t ttl = 30;
  uint8_t ecs_scope_prefix = 0;  // echoed as the ECS scope (RFC 7871 §7.2.1)
};

// A service answer already in wire form (the fast path, see Authority): the answer
// section's records exactly as Authority writes them for the question at offset 12, owners
// compressed to a pointer at it (0xC00C). EncodeAddressRecords makes them.
struct WireAnswer {
  std::span<const uint8_t> records;  // valid until the same thread calls the resolver again
  uint16_t count = 0;                // records; at least 1
  uint8_t ecs_scope_prefix = 0;
};

// Appends to `out` the records of `addresses` that answer `qtype` (A: IPv4, AAAA: IPv6,
// ANY: both), owned by the question name with `ttl`, and returns how many it appended.
// The same bytes the general path writes for a ServiceAnswer (zone_precomputed_test).
uint16_t EncodeAddressRecords(uint16_t qtype, uint32_t ttl, std::span<const IpAddr> addresses,
                              std::vector<uint8_t>& out);

// Implemented by the orchestrator. Called from every DNS thread: must be thread-safe and
// should not block (read an immutable snapshot).
class ServiceResolver {
 public:
  virtual ~ServiceResolver() = default;
  // `service` is the lowercase label left of the zone apex ("static" for
  // static.edge.example.). `qtype` is the asked type (A, AAAA, ANY or anything else).
  // nullopt -> the name does not exist (NXDOMAIN).
  virtual std::optional<ServiceAnswer> Resolve(std::string_view service, uint16_t qtype,
                                               const ClientInfo& client) = 0;
  // The fast path: the same answer as Resolve would give, with its records precomputed
  // (qtype is A or AAAA). False, with nothing done or counted, when there is no such
  // answer (no records of that family, NXDOMAIN, the cold path ...): then Authority calls
  // Resolve. Each call that returns true is one answer, counted as Resolve counts it.
  virtual bool ResolveWire(std::string_view /*service*/, uint16_t /*qtype*/,
                           const ClientInfo& /*client*/, WireAnswer& /*out*/) {
    return false;
  }
};

struct SoaConfig {
  std::string mname = "ns1.edge.example.";
  std::string rname = "hostmaster.edge.example.";
  uint32_t serial = 1;
  uint32_t refresh = 3600;
  uint32_t retry = 600;
  uint32_t expire = 604800;
  uint32_t minimum = 30;  // negative-caching TTL
};

struct NsRecord {
  std::string name;          // "ns1.edge.example."
  std::vector<IpAddr> glue;  // served as A/AAAA when `name` is inside the zone
};

struct ZoneConfig {
  std::string origin = "edge.example.";
  SoaConfig soa;
  std::vector<NsRecord> ns;
  uint32_t apex_ttl = 3600;
  uint16_t max_udp_payload = 1232;  // cap on the client's EDNS buffer size
  CookieOptions cookies;
  // Off unless asked for: a library user (tests, the fuzzer, `prewarm replay`'s tests)
  // should not find its answers dropped. The orchestrator turns it on (dns.rrl.*).
  RrlOptions rrl = {.responses_per_s = 0};
  // The key that places client networks in the rate limiter's table; drawn from getrandom()
  // when absent. Set where two Authorities must limit alike (the fuzzer compares two).
  std::optional<SipKey> rrl_key;
  // Answer A/AAAA queries for service names from ServiceResolver::ResolveWire's records,
  // copying the query's question and patching ID, flags and OPT (Authority::AnswerFast).
  // Off: every query takes the general path; the tests compare the two byte for byte.
  bool precomputed = true;
};

class Authority final : public Answerer {
 public:
  // Fails on unparsable names or an NS list that is empty.
  // `clock` times cookies and rate limits.
  static absl::StatusOr<std::unique_ptr<Authority>> Create(ZoneConfig config,
                                                           ServiceResolver& resolver,
                                                           const Clock& clock = RealClock::Get());

  size_t Answer(std::span<const uint8_t> query, const ClientInfo& client,
                std::span<uint8_t> out) override;

  Stats& stats() { return stats_; }
  // The time Answer takes, 1 query in 64 per thread (answer_timer.h).
  const AnswerTimer& answer_time() const { return answer_time_; }
  const ZoneConfig& config() const { return config_; }

 private:
  struct Glue {
    Name host;
    std::vector<IpAddr> addresses;
  };
  struct Reply;
  class Builder;

  Authority(ZoneConfig config, ServiceResolver& resolver, const Clock& clock)
      : config_(std::move(config)), resolver_(resolver), clock_(clock) {}
  absl::Status Init();
  size_t AnswerUntimed(std::span<const uint8_t> query, const ClientInfo& client,
                       std::span<uint8_t> out);
  // The fast path; kNotFast when the query is not a plain A/AAAA question for a service
  // name (then nothing was counted and the general path answers it).
  static constexpr size_t kNotFast = ~size_t{0};
  size_t AnswerFast(std::span<const uint8_t> query, const ClientInfo& client,
                    std::span<uint8_t> out);
  // The general path after the cookie and rate-limit decisions (Respond's second half).
  size_t RespondDecided(const Query& q, const ClientInfo& client,
                        const std::optional<CookieCheck>& cookie, RrlVerdict verdict,
                        std::span<uint8_t> out);

  RrlVerdict Limit(const ClientInfo& client, bool exempt, int64_t now_ms);
  std::optional<CookieCheck> CheckCookie(const std::optional<Cookie>& cookie,
                                         const ClientInfo& client, int64_t now_ms);
  size_t HeaderOnly(const Header& query, Rcode rcode, RrlVerdict verdict, std::span<uint8_t> out);
  size_t Respond(const Query& q, const ClientInfo& client, std::span<uint8_t> out);
  size_t WriteReply(const Query& q, const ClientInfo& client, Reply& reply, size_t limit,
                    std::span<uint8_t> out);
  void AnswerInZone(const Query& q, const ClientInfo& client, Builder& b, Reply& reply);
  void AnswerApex(uint16_t qtype, const Name& owner, Builder& b);
  void AnswerService(const Query& q, const ClientInfo& client, Builder& b, Reply& reply);
  void AnswerAddresses(uint16_t qtype, const Name& owner, uint32_t ttl,
                       std::span<const IpAddr> addresses, Builder& b);
  void AddNegative(Builder& b);
  size_t UdpLimit(const Query& q) const;

  ZoneConfig config_;
  ServiceResolver& resolver_;
  const Clock& clock_;
  std::unique_ptr<ServerCookies> cookies_;    // null: cookies off
  std::unique_ptr<ResponseRateLimiter> rrl_;  // null: no rate limiting
  Name origin_;
  ResourceRecord soa_;           // TTL apex_ttl, for answers
  ResourceRecord negative_soa_;  // TTL min(apex_ttl, minimum), for authority
  std::vector<ResourceRecord> ns_;
  std::vector<Glue> glue_;  // in-zone NS hosts only
  std::vector<ResourceRecord> glue_rrs_;
  // The fast path: the origin's wire form, lowercase, and the lowercase labels just below
  // it that are not service names (in-zone NS hosts and their empty non-terminals).
  std::vector<uint8_t> origin_lower_;
  std::vector<std::string> reserved_labels_;
  Stats stats_;
  AnswerTimer answer_time_;
};

}  // namespace prewarm::dns
