// DNS message codec: parses whole messages (every section, EDNS0 and Client Subnet) and
// the query-path subset (header, one question, OPT) without heap allocation.
// Start here for the wire format; writer.h builds messages.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <variant>
#include <vector>

#include "common/net.h"
#include "common/status.h"
#include "dns/name.h"
#include "dns/wire.h"

namespace prewarm::dns {

// EDNS Client Subnet (RFC 7871). `address` is already masked to `source_prefix`.
struct ClientSubnet {
  IpAddr address;
  uint8_t source_prefix = 0;
  uint8_t scope_prefix = 0;
  friend bool operator==(const ClientSubnet&, const ClientSubnet&) = default;
};

// The DNS COOKIE option (RFC 7873 §4): an 8-byte client cookie, then an optional server
// cookie of 8 to 32 bytes (16 for the RFC 9018 cookies this server makes).
struct Cookie {
  static constexpr size_t kClientSize = 8;
  static constexpr size_t kMaxServerSize = 32;
  std::array<uint8_t, kClientSize> client{};
  uint8_t server_size = 0;  // 0: the client has no server cookie yet
  std::array<uint8_t, kMaxServerSize> server{};

  std::span<const uint8_t> server_cookie() const { return {server.data(), server_size}; }
  size_t wire_size() const { return kClientSize + server_size; }  // the option's length
  friend bool operator==(const Cookie&, const Cookie&) = default;
};

struct EdnsOption {
  uint16_t code = 0;
  std::vector<uint8_t> data;
  friend bool operator==(const EdnsOption&, const EdnsOption&) = default;
};

// The OPT pseudo-record (RFC 6891).
struct Edns {
  uint16_t udp_size = 0;
  uint8_t extended_rcode = 0;  // upper 8 bits of the 12-bit rcode
  uint8_t version = 0;
  bool dnssec_ok = false;
  uint16_t z = 0;  // flags other than DO (15 bits, DO excluded)
  std::optional<ClientSubnet> ecs;
  std::optional<Cookie> cookie;
  std::vector<EdnsOption> options;  // everything but ECS and COOKIE; filled by ParseMessage only
  friend bool operator==(const Edns&, const Edns&) = default;
};

struct Question {
  Name name;
  uint16_t qtype = 0;
  uint16_t qclass = 0;
  friend bool operator==(const Question&, const Question&) = default;
};

struct SoaData {
  Name mname;
  Name rname;
  uint32_t serial = 0;
  uint32_t refresh = 0;
  uint32_t retry = 0;
  uint32_t expire = 0;
  uint32_t minimum = 0;
  friend bool operator==(const SoaData&, const SoaData&) = default;
};

// Rdata of a type we do not interpret, kept as opaque bytes (RFC 3597).
struct OpaqueData {
  std::vector<uint8_t> bytes;
  friend bool operator==(const OpaqueData&, const OpaqueData&) = default;
};

// A/AAAA -> IpAddr, NS/CNAME -> Name, SOA -> SoaData, anything else -> OpaqueData.
using RData = std::variant<IpAddr, Name, SoaData, OpaqueData>;

struct ResourceRecord {
  Name name;
  uint16_t type = 0;
  uint16_t rclass = kClassIN;
  uint32_t ttl = 0;
  RData data;
  friend bool operator==(const ResourceRecord&, const ResourceRecord&) = default;
};

struct Message {
  Header header;
  std::vector<Question> questions;
  std::vector<ResourceRecord> answers;
  std::vector<ResourceRecord> authority;
  std::vector<ResourceRecord> additional;  // OPT excluded, see `edns`
  std::optional<Edns> edns;

  // The 12-bit rcode combining the header and OPT.
  uint16_t rcode() const;
};

// Parses a whole message. Header counts must match the content exactly and nothing may
// follow the last record.
absl::StatusOr<Message> ParseMessage(std::span<const uint8_t> msg);

// What the authoritative path needs from a query. Answer/authority records are
// validated and skipped; unknown EDNS options are validated and skipped.
struct Query {
  Header header;
  Question question;
  size_t question_end = 0;  // offset just past the question
  std::optional<Edns> edns;
};

// Requires qdcount == 1. Errors mean FORMERR.
absl::StatusOr<Query> ParseQuery(std::span<const uint8_t> msg);

// Validates and decodes an ECS option body (RFC 7871 §6): family 1/2, prefixes within the
// family's width, exactly ceil(source/8) address bytes, no bits set beyond the prefix.
absl::StatusOr<ClientSubnet> ParseClientSubnet(std::span<const uint8_t> data);

// Decodes a COOKIE option body (RFC 7873 §5.2.2): 8 bytes, or 16 to 40. Anything else is
// malformed, which a server answers with FORMERR.
absl::StatusOr<Cookie> ParseCookie(std::span<const uint8_t> data);

}  // namespace prewarm::dns
