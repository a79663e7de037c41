#include "dns/writer.h"

#include <algorithm>
#include <cstring>
#include <variant>

namespace prewarm::dns {
namespace {

// Only the RFC 1035 types may have compressed names in rdata (RFC 3597 §4).
bool CompressibleRdata(const ResourceRecord& rr) {
  return rr.rclass == kClassIN &&
         (rr.type == rrtype::kNS || rr.type == rrtype::kCNAME || rr.type == rrtype::kSOA);
}

size_t EcsSize(const ClientSubnet& cs) { return 4 + 4 + (cs.source_prefix + 7u) / 8u; }

}  // namespace

MessageWriter::MessageWriter(std::span<uint8_t> out, size_t limit)
    : out_(out), limit_(std::min(limit, out.size())) {}

bool MessageWriter::Fits(size_t n, bool use_reserved) const {
  size_t cap = use_reserved ? limit_ : (limit_ > reserved_ ? limit_ - reserved_ : 0);
  return size_ <= cap && n <= cap - size_;
}

void MessageWriter::Put16(uint16_t v) {
  Store16(&out_[size_], v);
  size_ += 2;
}
void MessageWriter::Put32(uint32_t v) {
  Store32(&out_[size_], v);
  size_ += 4;
}
void MessageWriter::PutBytes(std::span<const uint8_t> b) {
  if (!b.empty()) {
    std::memcpy(&out_[size_], b.data(), b.size());
  }
  size_ += b.size();
}

// Does the (possibly compressed) name written at `offset` equal `suffix` byte for byte?
bool MessageWriter::MatchesAt(size_t offset, std::span<const uint8_t> suffix) const {
  size_t pos = offset;
  size_t k = 0;
  while (true) {
    uint8_t len = out_[pos];
    if ((len & 0xC0) == 0xC0) {
      pos = Load16(&out_[pos]) & 0x3FFF;
      continue;
    }
    if (k >= suffix.size() || suffix[k] != len) {
      return false;
    }
    if (len == 0) {
      return k + 1 == suffix.size();
    }
    if (k + 1 + len > suffix.size() || std::memcmp(&out_[pos + 1], &suffix[k + 1], len) != 0) {
      return false;
    }
    k += 1 + len;
    pos += 1 + len;
  }
}

bool MessageWriter::WriteName(const Name& name, bool compress) {
  std::span<const uint8_t> wire = name.wire();
  size_t start = size_;
  // Only names written before this one may be pointed at.
  const size_t existing = compress_count_;
  for (size_t i = 0; wire[i] != 0; i += wire[i] + 1) {
    std::span<const uint8_t> suffix = wire.subspan(i);
    for (size_t e = 0; compress && e < existing; ++e) {
      if (MatchesAt(compress_[e], suffix)) {
        if (!Fits(i + 2, false)) {
          return false;
        }
        PutBytes(wire.first(i));
        Put16(static_cast<uint16_t>(0xC000 | compress_[e]));
        return true;
      }
    }
    // Remember where this suffix will be written so later names can point at it.
    if (compress && start + i < 0x3FFF && compress_count_ < kMaxCompress) {
      compress_[compress_count_++] = static_cast<uint16_t>(start + i);
    }
  }
  if (!Fits(wire.size(), false)) {
    return false;
  }
  PutBytes(wire);
  return true;
}

bool MessageWriter::WriteRdata(const ResourceRecord& rr) {
  bool compress = CompressibleRdata(rr);
  if (const auto* ip = std::get_if<IpAddr>(&rr.data)) {
    if (!Fits(ip->size(), false)) {
      return false;
    }
    PutBytes({ip->bytes(), ip->size()});
    return true;
  }
  if (const auto* n = std::get_if<Name>(&rr.data)) {
    return WriteName(*n, compress);
  }
  if (const auto* soa = std::get_if<SoaData>(&rr.data)) {
    if (!WriteName(soa->mname, compress) || !WriteName(soa->rname, compress) || !Fits(20, false)) {
      return false;
    }
    for (uint32_t v : {soa->serial, soa->refresh, soa->retry, soa->expire, soa->minimum}) {
      Put32(v);
    }
    return true;
  }
  const auto& raw = std::get<OpaqueData>(rr.data).bytes;
  if (!Fits(raw.size(), false)) {
    return false;
  }
  PutBytes(raw);
  return true;
}

bool MessageWriter::AddQuestion(const Question& q) {
  if (section_ >= 0) {
    return false;
  }
  Mark m = mark();
  if (!WriteName(q.name, true) || !Fits(4, false)) {
    Rollback(m);
    return false;
  }
  Put16(q.qtype);
  Put16(q.qclass);
  ++counts_[0];
  return true;
}

bool MessageWriter::AddRecord(Section section, const ResourceRecord& rr) {
  int s = static_cast<int>(section);
  if (s < section_) {
    return false;
  }
  Mark m = mark();
  if (!WriteName(rr.name, true) || !Fits(10, false)) {
    Rollback(m);
    return false;
  }
  Put16(rr.type);
  Put16(rr.rclass);
  Put32(rr.ttl);
  size_t rdlen_at = size_;
  size_ += 2;
  if (!WriteRdata(rr) || size_ - rdlen_at - 2 > 0xFFFF) {
    Rollback(m);
    return false;
  }
  Store16(&out_[rdlen_at], static_cast<uint16_t>(size_ - rdlen_at - 2));
  section_ = s;
  ++counts_[1 + s];
  return true;
}

bool MessageWriter::AddOpt(const Edns& edns) {
  size_t n = OptSize(edns);
  if (!Fits(n, true) || n - 11 > 0xFFFF) {
    return false;
  }
  out_[size_++] = 0;  // root owner
  Put16(rrtype::kOPT);
  Put16(edns.udp_size);
  Put32((uint32_t{edns.extended_rcode} << 24) | (uint32_t{edns.version} << 16) |
        (edns.dnssec_ok ? 0x8000u : 0u) | (edns.z & 0x7FFFu));
  Put16(static_cast<uint16_t>(n - 11));
  for (const EdnsOption& o : edns.options) {
    Put16(o.code);
    Put16(static_cast<uint16_t>(o.data.size()));
    PutBytes(o.data);
  }
  if (edns.cookie) {
    Put16(kEdnsOptionCookie);
    Put16(static_cast<uint16_t>(edns.cookie->wire_size()));
    PutBytes(edns.cookie->client);
    PutBytes(edns.cookie->server_cookie());
  }
  if (edns.ecs) {
    const ClientSubnet& cs = *edns.ecs;
    Put16(kEdnsOptionClientSubnet);
    Put16(static_cast<uint16_t>(EcsSize(cs) - 4));
    Put16(cs.address.is_v4() ? 1 : 2);
    out_[size_++] = cs.source_prefix;
    out_[size_++] = cs.scope_prefix;
    IpAddr masked = cs.address.Masked(cs.source_prefix);
    PutBytes({masked.bytes(), (cs.source_prefix + 7u) / 8u});
  }
  section_ = static_cast<int>(Section::kAdditional);
  ++counts_[3];
  return true;
}

void MessageWriter::Rollback(const Mark& m) {
  size_ = m.size;
  compress_count_ = m.compress_count;
  counts_ = m.counts;
}

size_t MessageWriter::Finish(Header header) {
  header.qdcount = counts_[0];
  header.ancount = counts_[1];
  header.nscount = counts_[2];
  header.arcount = counts_[3];
  WriteHeader(header, out_.data());
  return size_;
}

size_t OptSize(const Edns& edns) {
  size_t n = 11;
  for (const EdnsOption& o : edns.options) {
    n += 4 + o.data.size();
  }
  if (edns.ecs) {
    n += EcsSize(*edns.ecs);
  }
  if (edns.cookie) {
    n += 4 + edns.cookie->wire_size();
  }
  return n;
}

absl::StatusOr<size_t> EncodeMessage(const Message& m, std::span<uint8_t> out) {
  if (out.size() < kHeaderSize) {
    return absl::ResourceExhaustedError("buffer smaller than a DNS header");
  }
  MessageWriter w(out, out.size());
  bool ok = true;
  for (const Question& q : m.questions) {
    ok = ok && w.AddQuestion(q);
  }
  for (const ResourceRecord& rr : m.answers) {
    ok = ok && w.AddRecord(Section::kAnswer, rr);
  }
  for (const ResourceRecord& rr : m.authority) {
    ok = ok && w.AddRecord(Section::kAuthority, rr);
  }
  for (const ResourceRecord& rr : m.additional) {
    ok = ok && w.AddRecord(Section::kAdditional, rr);
  }
  if (m.edns) {
    ok = ok && w.AddOpt(*m.edns);
  }
  if (!ok) {
    return absl::ResourceExhaustedError("DNS message does not fit the buffer");
  }
  return w.Finish(m.header);
}

}  // namespace prewarm::dns
