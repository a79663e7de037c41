#include "dns/zone.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include "dns/writer.h"
#include "fmt/format.h"

namespace prewarm::dns {

// What the lookup decided, besides the records themselves.
struct Authority::Reply {
  Rcode rcode = Rcode::kNoError;
  bool authoritative = true;
  bool lookup = false;    // run the in-zone lookup
  bool truncate = false;  // slipped by the rate limiter: TC=1, no records
  uint8_t ecs_scope = 0;
  std::optional<Cookie> cookie;  // the COOKIE option to send back
};

// Adds records to the response; a required record that does not fit marks the response
// truncated, an additional one that does not fit is simply left out.
class Authority::Builder {
 public:
  explicit Builder(MessageWriter& w) : w_(w) {}
  void Add(Section s, const ResourceRecord& rr) {
    if (truncated_ || w_.AddRecord(s, rr)) {
      return;
    }
    if (s != Section::kAdditional) {
      truncated_ = true;
    }
  }
  bool truncated() const { return truncated_; }

 private:
  MessageWriter& w_;
  bool truncated_ = false;
};

namespace {

ResourceRecord WithOwner(const ResourceRecord& rr, const Name& owner) {
  ResourceRecord copy = rr;
  copy.name = owner;
  return copy;
}

ResourceRecord AddressRecord(const Name& owner, uint32_t ttl, const IpAddr& ip) {
  return ResourceRecord{owner, ip.is_v4() ? rrtype::kA : rrtype::kAAAA, kClassIN, ttl, RData(ip)};
}

bool WantsAddress(uint16_t qtype, const IpAddr& ip) {
  return qtype == rrtype::kANY || (qtype == rrtype::kA && ip.is_v4()) ||
         (qtype == rrtype::kAAAA && ip.is_v6());
}

}  // namespace

absl::StatusOr<std::unique_ptr<Authority>> Authority::Create(ZoneConfig config,
                                                             ServiceResolver& resolver,
                                                             const Clock& clock) {
  std::unique_ptr<Authority> a(new Authority(std::move(config), resolver, clock));
  RETURN_IF_ERROR(a->Init());
  return a;
}

absl::Status Authority::Init() {
  if (config_.ns.empty()) {
    return absl::InvalidArgumentError("dns zone: at least one NS record is required");
  }
  if (config_.max_udp_payload < kClassicUdpSize) {
    return absl::InvalidArgumentError("dns zone: max_udp_payload must be >= 512");
  }
  if (config_.cookies.enabled) {
    if (config_.cookies.secret_rotate_s == 0) {
      return absl::InvalidArgumentError("dns cookies: secret_rotate_s must be > 0");
    }
    cookies_ = std::make_unique<ServerCookies>(config_.cookies);
  }
  if (config_.rrl.responses_per_s < 0 || config_.rrl.slip < 0 || config_.rrl.table_size < 1) {
    return absl::InvalidArgumentError(
        "dns rrl: responses_per_s and slip must be >= 0, table_size >= 1");
  }
  if (config_.rrl.responses_per_s > 0) {
    rrl_ = config_.rrl_key ? std::make_unique<ResponseRateLimiter>(config_.rrl, *config_.rrl_key)
                           : std::make_unique<ResponseRateLimiter>(config_.rrl);
  }
  ASSIGN_OR_RETURN(origin_, Name::FromText(config_.origin));
  SoaData soa;
  ASSIGN_OR_RETURN(soa.mname, Name::FromText(config_.soa.mname));
  ASSIGN_OR_RETURN(soa.rname, Name::FromText(config_.soa.rname));
  soa.serial = config_.soa.serial;
  soa.refresh = config_.soa.refresh;
  soa.retry = config_.soa.retry;
  soa.expire = config_.soa.expire;
  soa.minimum = config_.soa.minimum;
  soa_ = ResourceRecord{origin_, rrtype::kSOA, kClassIN, config_.apex_ttl, RData(soa)};
  negative_soa_ = soa_;
  negative_soa_.ttl = std::min(config_.apex_ttl, config_.soa.minimum);
  for (const NsRecord& ns : config_.ns) {
    ASSIGN_OR_RETURN(Name host, Name::FromText(ns.name));
    ns_.push_back(ResourceRecord{origin_, rrtype::kNS, kClassIN, config_.apex_ttl, RData(host)});
    if (!host.IsSubdomainOf(origin_) || ns.glue.empty()) {
      continue;
    }
    glue_.push_back(Glue{host, ns.glue});
    for (const IpAddr& ip : ns.glue) {
      glue_rrs_.push_back(AddressRecord(host, config_.apex_ttl, ip));
    }
  }
  for (uint8_t c : origin_.wire()) {
    origin_lower_.push_back(static_cast<uint8_t>(AsciiLower(c)));
  }
  for (const Glue& g : glue_) {
    // The label just below the origin on the way to the NS host: the host itself or an
    // empty non-terminal above it. Either way not a service name.
    std::span<const uint8_t> w = g.host.wire();
    size_t pos = 0;
    for (int i = g.host.label_count(); i > origin_.label_count() + 1; --i) {
      pos += w[pos] + 1u;
    }
    std::string label;
    for (size_t i = 0; i < w[pos]; ++i) {
      label.push_back(AsciiLower(w[pos + 1 + i]));
    }
    reserved_labels_.push_back(std::move(label));
  }
  return absl::OkStatus();
}

uint16_t EncodeAddressRecords(uint16_t qtype, uint32_t ttl, std::span<const IpAddr> addresses,
                              std::vector<uint8_t>& out) {
  uint16_t count = 0;
  for (const IpAddr& ip : addresses) {
    if (!ip.valid() || !WantsAddress(qtype, ip)) {
      continue;
    }
    uint8_t rr[12];
    Store16(rr, 0xC000 | kHeaderSize);  // the question's name
    Store16(rr + 2, ip.is_v4() ? rrtype::kA : rrtype::kAAAA);
    Store16(rr + 4, kClassIN);
    Store32(rr + 6, ttl);
    Store16(rr + 10, static_cast<uint16_t>(ip.size()));
    out.insert(out.end(), rr, rr + sizeof rr);
    out.insert(out.end(), ip.bytes(), ip.bytes() + ip.size());
    ++count;
  }
  return count;
}

size_t Authority::Answer(std::span<const uint8_t> query, const ClientInfo& client,
                         std::span<uint8_t> out) {
  const AnswerTimer::Sample sample = answer_time_.Start();
  const size_t size = AnswerUntimed(query, client, out);
  answer_time_.Finish(sample);
  return size;
}

size_t Authority::AnswerUntimed(std::span<const uint8_t> query, const ClientInfo& client,
                                std::span<uint8_t> out) {
  if (config_.precomputed) {
    if (size_t n = AnswerFast(query, client, out); n != kNotFast) {
      return n;
    }
  }
  (client.tcp ? stats_.queries_tcp : stats_.queries_udp).Inc();
  std::optional<Header> h = ReadHeader(query);
  if (!h || h->qr() || out.size() < kClassicUdpSize) {
    stats_.dropped.Inc();
    return 0;
  }
  if (h->opcode() != kOpcodeQuery) {
    return HeaderOnly(*h, Rcode::kNotImp, Limit(client, false, clock_.NowMs()), out);
  }
  absl::StatusOr<Query> q = ParseQuery(query);
  if (!q.ok()) {  // including a COOKIE option of a bad length (RFC 7873 §5.2.2)
    return HeaderOnly(*h, Rcode::kFormErr, Limit(client, false, clock_.NowMs()), out);
  }
  if (q->edns && q->edns->ecs) {
    stats_.ecs_seen.Inc();
  }
  return Respond(*q, client, out);
}

// What AnswerFast reads from a query: the OPT record, if any, in place.
namespace {

struct FastEdns {
  uint16_t udp_size = 0;
  bool dnssec_ok = false;
  std::optional<ClientSubnet> ecs;
  const uint8_t* ecs_address = nullptr;  // the option's address bytes in the query
  std::optional<Cookie> cookie;
};

// The single OPT record at query[pos..] that ends the message, as ParseQuery would take it;
// false for anything ParseQuery would reject, or that the general path answers otherwise
// (a version other than 0: BADVERS).
bool ReadFastOpt(std::span<const uint8_t> query, size_t pos, FastEdns& e) {
  if (query.size() - pos < 11 || query[pos] != 0 || Load16(&query[pos + 1]) != rrtype::kOPT) {
    return false;
  }
  const uint8_t* p = &query[pos];
  e.udp_size = Load16(p + 3);
  if (p[6] != 0) {  // version
    return false;
  }
  e.dnssec_ok = (p[7] & 0x80) != 0;
  const size_t end = pos + 11 + Load16(p + 9);
  if (end != query.size()) {
    return false;
  }
  pos += 11;
  while (pos < end) {
    if (end - pos < 4) {
      return false;
    }
    const uint16_t code = Load16(&query[pos]);
    const size_t len = Load16(&query[pos + 2]);
    pos += 4;
    if (end - pos < len) {
      return false;
    }
    std::span<const uint8_t> data = query.subspan(pos, len);
    pos += len;
    if (code == kEdnsOptionClientSubnet) {
      absl::StatusOr<ClientSubnet> cs = ParseClientSubnet(data);
      if (e.ecs || !cs.ok()) {
        return false;
      }
      e.ecs = *cs;
      e.ecs_address = data.data() + 4;
    } else if (code == kEdnsOptionCookie) {
      absl::StatusOr<Cookie> c = ParseCookie(data);
      if (e.cookie || !c.ok()) {
        return false;
      }
      e.cookie = *c;
    }
  }
  return true;
}

}  // namespace

// The common query: one A or AAAA question, uncompressed, for <service>.<origin>, at most
// an OPT record after it. Its response is the query's header and question (so its case, as
// sent: 0x20), the resolver's precomputed records and an OPT built here. Everything the
// general path would decide differently (rate limited, no precomputed answer, does not
// fit ...) is handed back to it at the point where the two part.
size_t Authority::AnswerFast(std::span<const uint8_t> query, const ClientInfo& client,
                             std::span<uint8_t> out) {
  if (query.size() < kHeaderSize || out.size() < kClassicUdpSize) {
    return kNotFast;
  }
  const uint8_t* p = query.data();
  const uint16_t flags = Load16(p + 2);
  // QR=0, opcode QUERY; one question, no answer or authority records, at most one more.
  if ((flags & 0xF800) != 0 || Load16(p + 4) != 1 || Load16(p + 6) != 0 || Load16(p + 8) != 0 ||
      Load16(p + 10) > 1) {
    return kNotFast;
  }
  // The question name: labels only, no compression, lowercased on the way.
  std::array<uint8_t, kMaxNameSize> lower;
  size_t pos = kHeaderSize;
  size_t n = 0;
  int labels = 0;
  while (true) {
    if (pos >= query.size()) {
      return kNotFast;
    }
    const uint8_t len = query[pos];
    // ReadName's limits: labels up to 63 bytes, the whole name (its root byte too) 255.
    if (len > kMaxLabelSize || (len > 0 && n + len + 2 > kMaxNameSize) ||
        query.size() - pos < 1u + len) {
      return kNotFast;
    }
    lower[n++] = len;
    ++pos;
    if (len == 0) {
      break;
    }
    for (size_t i = 0; i < len; ++i) {
      lower[n++] = static_cast<uint8_t>(AsciiLower(query[pos + i]));
    }
    pos += len;
    ++labels;
  }
  if (labels != origin_.label_count() + 1 || query.size() - pos < 4) {
    return kNotFast;
  }
  const size_t label_size = lower[0];
  if (n - 1 - label_size != origin_lower_.size() ||
      std::memcmp(&lower[1 + label_size], origin_lower_.data(), origin_lower_.size()) != 0) {
    return kNotFast;
  }
  const uint16_t qtype = Load16(&query[pos]);
  if ((qtype != rrtype::kA && qtype != rrtype::kAAAA) || Load16(&query[pos + 2]) != kClassIN) {
    return kNotFast;
  }
  const size_t question_end = pos + 4;
  const std::string_view service(reinterpret_cast<const char*>(&lower[1]), label_size);
  for (const std::string& r : reserved_labels_) {
    if (r == service) {
      return kNotFast;
    }
  }
  std::optional<FastEdns> edns;
  if (Load16(p + 10) == 1) {
    if (!ReadFastOpt(query, question_end, edns.emplace())) {
      return kNotFast;
    }
  } else if (question_end != query.size()) {
    return kNotFast;
  }

  // From here on the query is counted: it is answered here or by RespondDecided.
  (client.tcp ? stats_.queries_tcp : stats_.queries_udp).Inc();
  if (edns && edns->ecs) {
    stats_.ecs_seen.Inc();
  }
  const bool has_cookie = cookies_ && edns && edns->cookie;
  const int64_t now_ms = (has_cookie || (rrl_ && !client.tcp)) ? clock_.NowMs() : 0;
  std::optional<CookieCheck> cookie =
      CheckCookie(edns ? edns->cookie : std::nullopt, client, now_ms);
  const bool exempt = cookie && cookie->status == CookieStatus::kValid;
  const RrlVerdict verdict = Limit(client, exempt, now_ms);
  ClientInfo who = client;
  who.ecs = edns ? edns->ecs : std::nullopt;
  WireAnswer wire;
  if (verdict != RrlVerdict::kSend || !resolver_.ResolveWire(service, qtype, who, wire)) {
    absl::StatusOr<Query> q = ParseQuery(query);  // accepts what was read above
    if (!q.ok()) {
      return HeaderOnly(*ReadHeader(query), Rcode::kFormErr, verdict, out);
    }
    return RespondDecided(*q, client, cookie, verdict, out);
  }

  size_t opt_size = 0;
  if (edns) {
    opt_size = 11;
    if (cookie) {
      opt_size += 4 + cookie->reply.wire_size();
    }
    if (edns->ecs) {
      opt_size += 8 + (edns->ecs->source_prefix + 7u) / 8u;
    }
  }
  size_t limit = client.tcp ? std::min<size_t>(out.size(), 65535)
                 : edns     ? std::min<size_t>(std::max<size_t>(edns->udp_size, kClassicUdpSize),
                                           config_.max_udp_payload)
                            : kClassicUdpSize;
  limit = std::min(limit, out.size());
  bool truncated = question_end + wire.records.size() + opt_size > limit;
  uint8_t* o = out.data();
  std::memcpy(o, p, question_end);  // ID, question as sent
  Store16(o + 2, static_cast<uint16_t>(Header::kQr | (flags & Header::kRd) | Header::kAa |
                                       (truncated ? Header::kTc : 0)));
  Store16(o + 6, truncated ? 0 : wire.count);
  Store16(o + 8, 0);
  Store16(o + 10, edns ? 1 : 0);
  size_t size = question_end;
  if (truncated) {
    if (!client.tcp) {
      stats_.truncated.Inc();
    }
  } else {
    std::memcpy(o + size, wire.records.data(), wire.records.size());
    size += wire.records.size();
  }
  if (edns) {
    uint8_t* q = o + size;
    q[0] = 0;  // root
    Store16(q + 1, rrtype::kOPT);
    Store16(q + 3, config_.max_udp_payload);
    Store32(q + 5, edns->dnssec_ok ? 0x8000u : 0u);
    Store16(q + 9, static_cast<uint16_t>(opt_size - 11));
    q += 11;
    if (cookie) {
      const Cookie& c = cookie->reply;
      Store16(q, kEdnsOptionCookie);
      Store16(q + 2, static_cast<uint16_t>(c.wire_size()));
      std::memcpy(q + 4, c.client.data(), Cookie::kClientSize);
      std::memcpy(q + 4 + Cookie::kClientSize, c.server.data(), c.server_size);
      q += 4 + c.wire_size();
    }
    if (edns->ecs) {
      const ClientSubnet& cs = *edns->ecs;
      const uint8_t width = cs.address.is_v4() ? 32 : 128;
      const size_t bytes = (cs.source_prefix + 7u) / 8u;
      Store16(q, kEdnsOptionClientSubnet);
      Store16(q + 2, static_cast<uint16_t>(4 + bytes));
      Store16(q + 4, cs.address.is_v4() ? 1 : 2);
      q[6] = cs.source_prefix;
      q[7] = cs.source_prefix == 0 ? 0 : std::min(wire.ecs_scope_prefix, width);
      std::memcpy(q + 8, edns->ecs_address, bytes);
    }
    size += opt_size;
  }
  stats_.CountRcode(0);
  return size;
}

RrlVerdict Authority::Limit(const ClientInfo& client, bool exempt, int64_t now_ms) {
  if (client.tcp || exempt || !rrl_) {
    return RrlVerdict::kSend;
  }
  RrlVerdict v = rrl_->Check(client.source, now_ms);
  if (v == RrlVerdict::kDrop) {
    stats_.rrl_dropped.Inc();
  } else if (v == RrlVerdict::kSlip) {
    stats_.rrl_slipped.Inc();
  }
  return v;
}

std::optional<CookieCheck> Authority::CheckCookie(const std::optional<Cookie>& cookie,
                                                  const ClientInfo& client, int64_t now_ms) {
  if (!cookies_ || !cookie) {
    return std::nullopt;
  }
  CookieCheck c = cookies_->Check(*cookie, client.source, static_cast<uint32_t>(now_ms / 1000));
  switch (c.status) {
    case CookieStatus::kClientOnly:
      stats_.cookie_client_only.Inc();
      break;
    case CookieStatus::kInvalid:
      stats_.cookie_invalid.Inc();
      break;
    case CookieStatus::kValid:
      stats_.cookie_valid.Inc();
      break;
  }
  return c;
}

size_t Authority::HeaderOnly(const Header& query, Rcode rcode, RrlVerdict verdict,
                             std::span<uint8_t> out) {
  if (verdict == RrlVerdict::kDrop) {
    return 0;
  }
  Header r;
  r.id = query.id;
  r.flags = static_cast<uint16_t>(Header::kQr | (query.flags & (0x7800 | Header::kRd)) |
                                  (verdict == RrlVerdict::kSlip ? Header::kTc : 0) |
                                  (static_cast<uint16_t>(rcode) & 0xF));
  WriteHeader(r, out.data());
  stats_.CountRcode(static_cast<uint16_t>(rcode));
  return kHeaderSize;
}

size_t Authority::Respond(const Query& q, const ClientInfo& client, std::span<uint8_t> out) {
  const bool has_cookie = cookies_ && q.edns && q.edns->cookie;
  const int64_t now_ms = (has_cookie || (rrl_ && !client.tcp)) ? clock_.NowMs() : 0;
  std::optional<CookieCheck> cookie =
      CheckCookie(q.edns ? q.edns->cookie : std::nullopt, client, now_ms);
  const bool exempt = cookie && cookie->status == CookieStatus::kValid;
  return RespondDecided(q, client, cookie, Limit(client, exempt, now_ms), out);
}

size_t Authority::RespondDecided(const Query& q, const ClientInfo& client,
                                 const std::optional<CookieCheck>& cookie, RrlVerdict verdict,
                                 std::span<uint8_t> out) {
  const Question& qn = q.question;
  Reply reply;
  if (qn.qtype == rrtype::kOPT || verdict == RrlVerdict::kDrop) {
    return HeaderOnly(q.header, Rcode::kFormErr, verdict, out);
  }
  reply.cookie = cookie ? std::optional<Cookie>(cookie->reply) : std::nullopt;
  if (verdict == RrlVerdict::kSlip) {
    // Over the limit: a cookie-aware client is told its cookie is not good enough and
    // handed a fresh one (RFC 7873 §5.2.3, choice 2); anyone else is sent to TCP.
    reply.authoritative = false;
    if (cookie) {
      reply.rcode = Rcode::kBadCookie;
    } else {
      reply.truncate = true;
    }
  } else if (q.edns && q.edns->version > 0) {
    reply.rcode = Rcode::kBadVers;
    reply.authoritative = false;
  } else if ((qn.qclass != kClassIN && qn.qclass != kClassAny) || qn.qtype == rrtype::kAXFR ||
             qn.qtype == rrtype::kIXFR || !qn.name.IsSubdomainOf(origin_)) {
    reply.rcode = Rcode::kRefused;
    reply.authoritative = false;
  } else {
    reply.lookup = true;
  }
  ClientInfo who = client;
  who.ecs = q.edns ? q.edns->ecs : std::nullopt;
  size_t limit = client.tcp ? std::min<size_t>(out.size(), 65535) : UdpLimit(q);
  return WriteReply(q, who, reply, limit, out);
}

size_t Authority::UdpLimit(const Query& q) const {
  if (!q.edns) {
    return kClassicUdpSize;
  }
  size_t asked = std::max<size_t>(q.edns->udp_size, kClassicUdpSize);
  return std::min<size_t>(asked, config_.max_udp_payload);
}

size_t Authority::WriteReply(const Query& q, const ClientInfo& client, Reply& reply, size_t limit,
                             std::span<uint8_t> out) {
  MessageWriter w(out, limit);
  if (!w.AddQuestion(q.question)) {
    stats_.dropped.Inc();
    return 0;
  }
  const MessageWriter::Mark after_question = w.mark();
  std::optional<Edns> edns;
  if (q.edns) {
    edns = Edns{};
    edns->udp_size = config_.max_udp_payload;
    edns->dnssec_ok = q.edns->dnssec_ok;
    edns->ecs = q.edns->ecs;
    edns->cookie = reply.cookie;
    w.ReserveTail(OptSize(*edns));
  }
  Builder b(w);
  if (reply.lookup) {
    AnswerInZone(q, client, b, reply);
  }
  Header h;
  h.id = q.header.id;
  h.flags = static_cast<uint16_t>(
      Header::kQr | (q.header.flags & Header::kRd) | (reply.authoritative ? Header::kAa : 0) |
      (reply.truncate ? Header::kTc : 0) | (static_cast<uint16_t>(reply.rcode) & 0xF));
  if (b.truncated()) {
    w.Rollback(after_question);
    h.flags |= Header::kTc;
    if (!client.tcp) {
      stats_.truncated.Inc();
    }
  }
  if (edns) {
    edns->extended_rcode = static_cast<uint8_t>(static_cast<uint16_t>(reply.rcode) >> 4);
    if (edns->ecs) {
      const uint8_t width = edns->ecs->address.is_v4() ? 32 : 128;
      edns->ecs->scope_prefix =
          edns->ecs->source_prefix == 0 ? 0 : std::min(reply.ecs_scope, width);
    }
    w.AddOpt(*edns);  // fits: its space was reserved
  }
  stats_.CountRcode(static_cast<uint16_t>(reply.rcode));
  return w.Finish(h);
}

void Authority::AnswerInZone(const Query& q, const ClientInfo& client, Builder& b, Reply& reply) {
  const Name& qname = q.question.name;
  const uint16_t qtype = q.question.qtype;
  if (qname.EqualsIgnoreCase(origin_)) {
    AnswerApex(qtype, qname, b);
    return;
  }
  for (const Glue& g : glue_) {
    if (qname.EqualsIgnoreCase(g.host)) {
      AnswerAddresses(qtype, qname, config_.apex_ttl, g.addresses, b);
      return;
    }
  }
  for (const Glue& g : glue_) {
    if (g.host.IsSubdomainOf(qname)) {  // an empty non-terminal above an NS host
      AddNegative(b);
      return;
    }
  }
  if (qname.label_count() == origin_.label_count() + 1) {
    AnswerService(q, client, b, reply);
    return;
  }
  reply.rcode = Rcode::kNxDomain;
  AddNegative(b);
}

void Authority::AnswerApex(uint16_t qtype, const Name& owner, Builder& b) {
  const bool any = qtype == rrtype::kANY;
  if (qtype != rrtype::kSOA && qtype != rrtype::kNS && !any) {
    AddNegative(b);
    return;
  }
  if (qtype == rrtype::kSOA || any) {
    b.Add(Section::kAnswer, WithOwner(soa_, owner));
  }
  if (qtype == rrtype::kNS || any) {
    for (const ResourceRecord& ns : ns_) {
      b.Add(Section::kAnswer, WithOwner(ns, owner));
    }
    for (const ResourceRecord& glue : glue_rrs_) {
      b.Add(Section::kAdditional, glue);
    }
  }
}

void Authority::AnswerService(const Query& q, const ClientInfo& client, Builder& b, Reply& reply) {
  const Name& qname = q.question.name;
  std::string_view label = qname.first_label();
  std::array<char, kMaxLabelSize> lower;
  for (size_t i = 0; i < label.size(); ++i) {
    lower[i] = AsciiLower(static_cast<uint8_t>(label[i]));
  }
  std::string_view service(lower.data(), label.size());
  std::optional<ServiceAnswer> ans = resolver_.Resolve(service, q.question.qtype, client);
  if (!ans) {
    reply.rcode = Rcode::kNxDomain;
    AddNegative(b);
    return;
  }
  reply.ecs_scope = ans->ecs_scope_prefix;
  AnswerAddresses(q.question.qtype, qname, ans->ttl, ans->addresses, b);
}

void Authority::AnswerAddresses(uint16_t qtype, const Name& owner, uint32_t ttl,
                                std::span<const IpAddr> addresses, Builder& b) {
  bool any = false;
  for (const IpAddr& ip : addresses) {
    if (ip.valid() && WantsAddress(qtype, ip)) {
      b.Add(Section::kAnswer, AddressRecord(owner, ttl, ip));
      any = true;
    }
  }
  if (!any) {
    AddNegative(b);  // NODATA
  }
}

void Authority::AddNegative(Builder& b) { b.Add(Section::kAuthority, negative_soa_); }

}  // namespace prewarm::dns
