#include "dns/codec.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "fmt/format.h"

namespace prewarm::dns {
namespace {

absl::Status Malformed(std::string_view what) {
  return absl::InvalidArgumentError(fmt::format("malformed DNS message: {}", what));
}

// The fixed part of a resource record; rdata spans [rdata, rdend).
struct RrHeader {
  Name name;
  uint16_t type = 0;
  uint16_t rclass = 0;
  uint32_t ttl = 0;
  size_t rdata = 0;
  size_t rdend = 0;
};

absl::StatusOr<RrHeader> ReadRrHeader(std::span<const uint8_t> msg, size_t pos) {
  ASSIGN_OR_RETURN(DecodedName owner, ReadName(msg, pos));
  pos = owner.next;
  if (msg.size() - pos < 10) {
    return Malformed("record header truncated");
  }
  const uint8_t* p = &msg[pos];
  RrHeader rr{owner.name, Load16(p), Load16(p + 2), Load32(p + 4), pos + 10, 0};
  rr.rdend = rr.rdata + Load16(p + 8);
  if (rr.rdend > msg.size()) {
    return Malformed("rdata truncated");
  }
  return rr;
}

absl::StatusOr<Question> ReadQuestion(std::span<const uint8_t> msg, size_t& pos) {
  ASSIGN_OR_RETURN(DecodedName qname, ReadName(msg, pos));
  if (msg.size() - qname.next < 4) {
    return Malformed("question truncated");
  }
  const uint8_t* p = &msg[qname.next];
  pos = qname.next + 4;
  return Question{qname.name, Load16(p), Load16(p + 2)};
}

// A name inside rdata must end exactly where the caller expects it to.
absl::StatusOr<Name> ReadRdataName(std::span<const uint8_t> msg, size_t& pos, size_t end) {
  ASSIGN_OR_RETURN(DecodedName d, ReadName(msg.first(end), pos));
  pos = d.next;
  return d.name;
}

absl::StatusOr<SoaData> ReadSoa(std::span<const uint8_t> msg, const RrHeader& rr) {
  size_t pos = rr.rdata;
  SoaData soa;
  ASSIGN_OR_RETURN(soa.mname, ReadRdataName(msg, pos, rr.rdend));
  ASSIGN_OR_RETURN(soa.rname, ReadRdataName(msg, pos, rr.rdend));
  if (rr.rdend - pos != 20) {
    return Malformed("SOA rdata length");
  }
  const uint8_t* p = &msg[pos];
  soa.serial = Load32(p);
  soa.refresh = Load32(p + 4);
  soa.retry = Load32(p + 8);
  soa.expire = Load32(p + 12);
  soa.minimum = Load32(p + 16);
  return soa;
}

absl::StatusOr<RData> ReadRdata(std::span<const uint8_t> msg, const RrHeader& rr) {
  size_t len = rr.rdend - rr.rdata;
  const uint8_t* p = msg.data() + rr.rdata;
  if (rr.rclass == kClassIN && (rr.type == rrtype::kA || rr.type == rrtype::kAAAA)) {
    if (len != (rr.type == rrtype::kA ? 4u : 16u)) {
      return Malformed("address rdata length");
    }
    if (rr.type == rrtype::kA) {
      return RData(IpAddr::V4(Load32(p)));
    }
    std::array<uint8_t, 16> b;
    std::memcpy(b.data(), p, 16);
    return RData(IpAddr::V6(b));
  }
  if (rr.rclass == kClassIN && (rr.type == rrtype::kNS || rr.type == rrtype::kCNAME)) {
    size_t pos = rr.rdata;
    ASSIGN_OR_RETURN(Name target, ReadRdataName(msg, pos, rr.rdend));
    if (pos != rr.rdend) {
      return Malformed("name rdata length");
    }
    return RData(target);
  }
  if (rr.rclass == kClassIN && rr.type == rrtype::kSOA) {
    ASSIGN_OR_RETURN(SoaData soa, ReadSoa(msg, rr));
    return RData(std::move(soa));
  }
  return RData(OpaqueData{std::vector<uint8_t>(p, p + len)});
}

absl::StatusOr<Edns> ReadOpt(std::span<const uint8_t> msg, const RrHeader& rr, bool keep) {
  if (!rr.name.is_root()) {
    return Malformed("OPT owner is not the root");
  }
  Edns e;
  e.udp_size = rr.rclass;
  e.extended_rcode = static_cast<uint8_t>(rr.ttl >> 24);
  e.version = static_cast<uint8_t>(rr.ttl >> 16);
  e.dnssec_ok = (rr.ttl & 0x8000) != 0;
  e.z = static_cast<uint16_t>(rr.ttl & 0x7FFF);
  size_t pos = rr.rdata;
  while (pos < rr.rdend) {
    if (rr.rdend - pos < 4) {
      return Malformed("EDNS option header truncated");
    }
    uint16_t code = Load16(&msg[pos]);
    size_t len = Load16(&msg[pos + 2]);
    pos += 4;
    if (rr.rdend - pos < len) {
      return Malformed("EDNS option truncated");
    }
    std::span<const uint8_t> data = msg.subspan(pos, len);
    pos += len;
    if (code == kEdnsOptionClientSubnet) {
      if (e.ecs) {
        return Malformed("more than one client subnet option");
      }
      ASSIGN_OR_RETURN(e.ecs, ParseClientSubnet(data));
    } else if (code == kEdnsOptionCookie) {
      if (e.cookie) {
        return Malformed("more than one cookie option");
      }
      ASSIGN_OR_RETURN(e.cookie, ParseCookie(data));
    } else if (keep) {
      e.options.push_back(EdnsOption{code, std::vector<uint8_t>(data.begin(), data.end())});
    }
  }
  return e;
}

// Reads `count` records starting at `pos` into `out`. OPT is only legal where `edns` is
// given (the additional section).
absl::Status ReadSection(std::span<const uint8_t> msg, size_t& pos, uint16_t count,
                         std::vector<ResourceRecord>& out, std::optional<Edns>* edns) {
  for (uint16_t i = 0; i < count; ++i) {
    ASSIGN_OR_RETURN(RrHeader rr, ReadRrHeader(msg, pos));
    pos = rr.rdend;
    if (rr.type == rrtype::kOPT) {
      if (edns == nullptr || edns->has_value()) {
        return Malformed("misplaced or duplicate OPT");
      }
      ASSIGN_OR_RETURN(*edns, ReadOpt(msg, rr, /*keep=*/true));
      continue;
    }
    ASSIGN_OR_RETURN(RData data, ReadRdata(msg, rr));
    out.push_back(ResourceRecord{rr.name, rr.type, rr.rclass, rr.ttl, std::move(data)});
  }
  return absl::OkStatus();
}

}  // namespace

uint16_t Message::rcode() const {
  uint16_t high = edns ? static_cast<uint16_t>(edns->extended_rcode << 4) : 0;
  return static_cast<uint16_t>(high | header.rcode_low());
}

absl::StatusOr<Message> ParseMessage(std::span<const uint8_t> msg) {
  std::optional<Header> h = ReadHeader(msg);
  if (!h) {
    return Malformed("shorter than a header");
  }
  Message m;
  m.header = *h;
  size_t pos = kHeaderSize;
  for (uint16_t i = 0; i < h->qdcount; ++i) {
    ASSIGN_OR_RETURN(Question q, ReadQuestion(msg, pos));
    m.questions.push_back(q);
  }
  RETURN_IF_ERROR(ReadSection(msg, pos, h->ancount, m.answers, nullptr));
  RETURN_IF_ERROR(ReadSection(msg, pos, h->nscount, m.authority, nullptr));
  RETURN_IF_ERROR(ReadSection(msg, pos, h->arcount, m.additional, &m.edns));
  if (pos != msg.size()) {
    return Malformed("trailing bytes");
  }
  return m;
}

absl::StatusOr<Query> ParseQuery(std::span<const uint8_t> msg) {
  std::optional<Header> h = ReadHeader(msg);
  if (!h) {
    return Malformed("shorter than a header");
  }
  if (h->qdcount != 1) {
    return Malformed("query must have exactly one question");
  }
  Query q;
  q.header = *h;
  size_t pos = kHeaderSize;
  ASSIGN_OR_RETURN(q.question, ReadQuestion(msg, pos));
  q.question_end = pos;
  size_t records = size_t{h->ancount} + h->nscount + h->arcount;
  size_t first_additional = size_t{h->ancount} + h->nscount;
  for (size_t i = 0; i < records; ++i) {
    ASSIGN_OR_RETURN(RrHeader rr, ReadRrHeader(msg, pos));
    pos = rr.rdend;
    if (rr.type != rrtype::kOPT) {
      continue;
    }
    if (i < first_additional || q.edns) {
      return Malformed("misplaced or duplicate OPT");
    }
    ASSIGN_OR_RETURN(q.edns, ReadOpt(msg, rr, /*keep=*/false));
  }
  if (pos != msg.size()) {
    return Malformed("trailing bytes");
  }
  return q;
}

absl::StatusOr<ClientSubnet> ParseClientSubnet(std::span<const uint8_t> data) {
  if (data.size() < 4) {
    return Malformed("client subnet option too short");
  }
  uint16_t family = Load16(data.data());
  if (family != 1 && family != 2) {
    return Malformed(fmt::format("client subnet family {}", family));
  }
  const size_t width = family == 1 ? 32 : 128;
  ClientSubnet cs;
  cs.source_prefix = data[2];
  cs.scope_prefix = data[3];
  if (cs.source_prefix > width || cs.scope_prefix > width) {
    return Malformed("client subnet prefix longer than the address");
  }
  std::span<const uint8_t> addr = data.subspan(4);
  if (addr.size() != (cs.source_prefix + 7u) / 8u) {
    return Malformed("client subnet address length does not match the prefix");
  }
  std::array<uint8_t, 16> bytes{};
  std::memcpy(bytes.data(), addr.data(), addr.size());
  if (cs.source_prefix % 8 != 0) {
    uint8_t host_bits = static_cast<uint8_t>(0xFF >> (cs.source_prefix % 8));
    if ((addr.back() & host_bits) != 0) {
      return Malformed("client subnet address has bits set beyond the prefix");
    }
  }
  cs.address = family == 1 ? IpAddr::V4(Load32(bytes.data())) : IpAddr::V6(bytes);
  return cs;
}

absl::StatusOr<Cookie> ParseCookie(std::span<const uint8_t> data) {
  const size_t server = data.size() - std::min(data.size(), Cookie::kClientSize);
  if (data.size() < Cookie::kClientSize || (server != 0 && server < 8) ||
      server > Cookie::kMaxServerSize) {
    return Malformed(fmt::format("cookie option of {} bytes", data.size()));
  }
  Cookie c;
  std::memcpy(c.client.data(), data.data(), Cookie::kClientSize);
  c.server_size = static_cast<uint8_t>(server);
  std::memcpy(c.server.data(), data.data() + Cookie::kClientSize, server);
  return c;
}

}  // namespace prewarm::dns
