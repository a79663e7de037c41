// prewarm-dns-diff: a differential test of two authoritative servers for the same zone.
// It generates a seeded set of queries (valid ones in every shape the zone answers, with
// random case, EDNS versions, buffer sizes, DO, client subnets, cookies and unknown
// options, plus malformed and junk packets), sends each to both servers over UDP, parses
// both responses with ldns and compares rcode, header flags, the question, every section
// (RRs compared as text, TTL included) and the OPT record (version, DO, options).
//
// Differences that are intended are named rules (Intended()) or options left out of the
// comparison (kNotCompared), all listed in docs/design.md. Every other difference is
// printed (the first examples of each kind) and makes the exit status 1.
//
// Usage: prewarm-dns-diff --a PORT --b PORT [--queries N] [--seed S] [--zone NAME]
// (both servers on 127.0.0.1; a is prewarm, b the reference).
#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <string>
#include <vector>

// After the standard headers: ldns's own make `bool` a macro for them otherwise.
#include "dns/ldns_testutil.h"

namespace {

using prewarm::dns::testing::FromWire;
using prewarm::dns::testing::LdnsPkt;

// ---- query generation --------------------------------------------------------------------

struct Query {
  std::vector<uint8_t> wire;
  std::string what;  // a description for the report
  // What the comparison's rules need to know about it.
  bool malformed = false;   // random bytes, cut short, or not one question
  bool bad_cookie = false;  // a COOKIE option of a length RFC 7873 does not allow
  bool bad_ecs = false;     // an ECS option RFC 7871 §6 says to reject with FORMERR
  int opcode = 0;
  uint16_t qtype = 0;
  bool apex = false;  // the question is the zone's apex
};

void Put16(std::vector<uint8_t>& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}

void PutName(std::vector<uint8_t>& b, const std::string& name) {
  size_t start = 0;
  while (start < name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    if (dot > start) {
      b.push_back(static_cast<uint8_t>(dot - start));
      b.insert(b.end(), name.begin() + static_cast<std::ptrdiff_t>(start),
               name.begin() + static_cast<std::ptrdiff_t>(dot));
    }
    start = dot + 1;
  }
  b.push_back(0);
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

class Generator {
 public:
  Generator(uint64_t seed, std::string zone) : rng_(seed), zone_(std::move(zone)) {}

  Query Next(uint16_t id) {
    int junk = Pick(100);
    if (junk < 2) return RandomBytes(id);
    Query q = Valid(id);
    if (junk < 4 && q.wire.size() > 12) {  // cut short anywhere after the header
      size_t cut = 12 + static_cast<size_t>(Pick(static_cast<int>(q.wire.size() - 12)));
      q.wire.resize(cut);
      q.what += " truncated-at-" + std::to_string(cut);
      q.malformed = true;
    }
    return q;
  }

 private:
  int Pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
  bool Chance(int percent) { return Pick(100) < percent; }
  template <typename T>
  const T& OneOf(const std::vector<T>& v) {
    return v[static_cast<size_t>(Pick(static_cast<int>(v.size())))];
  }

  Query RandomBytes(uint16_t id) {
    Query q;
    size_t n = static_cast<size_t>(Pick(64));
    for (size_t i = 0; i < n; ++i) q.wire.push_back(static_cast<uint8_t>(Pick(256)));
    if (n >= 2) {
      q.wire[0] = static_cast<uint8_t>(id >> 8);
      q.wire[1] = static_cast<uint8_t>(id);
    }
    if (n >= 3) q.wire[2] &= 0x7f;  // a query (QR=0), else both just drop it
    q.what = "random-bytes-" + std::to_string(n);
    q.malformed = true;
    return q;
  }

  std::string RandomCase(std::string s) {
    for (char& c : s) {
      if (std::isalpha(static_cast<unsigned char>(c)) && Chance(50)) {
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      }
    }
    return s;
  }

  Query Valid(uint16_t id) {
    Query q;
    const std::vector<std::string> names = {zone_,
                                            "static." + zone_,
                                            "api." + zone_,
                                            "ns1." + zone_,
                                            "nope." + zone_,
                                            "a.static." + zone_,
                                            "x.y.z." + zone_,
                                            "example.com.",
                                            ".",
                                            "edge.",
                                            "static.edge.examplx.",
                                            "hostmaster." + zone_};
    const std::vector<uint16_t> types = {1, 1,  1,   28,  28,  6,  2,  255, 15, 16, 48,
                                         5, 33, 666, 252, 251, 41, 43, 99,  0,  65};
    std::string name = RandomCase(OneOf(names));
    uint16_t qtype = OneOf(types);
    int c = Pick(100);
    uint16_t qclass = c < 94 ? 1 : c < 96 ? 3 : c < 98 ? 255 : 254;

    int o = Pick(100);
    uint8_t opcode = o < 95 ? 0 : static_cast<uint8_t>(std::vector<int>{1, 2, 4, 5, 15}[Pick(5)]);
    uint16_t flags = static_cast<uint16_t>(opcode << 11);
    if (Chance(50)) flags |= 0x0100;  // RD
    if (Chance(10)) flags |= 0x0010;  // CD
    if (Chance(10)) flags |= 0x0020;  // AD
    if (Chance(3)) flags |= 0x0040;   // Z
    if (Chance(3)) flags |= 0x0400;   // AA in a query
    if (Chance(2)) flags |= 0x0200;   // TC in a query
    int qd = Pick(100) < 97 ? 1 : Chance(50) ? 0 : 2;
    q.malformed = qd != 1;
    q.opcode = opcode;
    q.qtype = qtype;
    q.apex = Lower(name) == zone_;

    q.what = "name=" + name + " type=" + std::to_string(qtype) +
             " class=" + std::to_string(qclass) + " opcode=" + std::to_string(opcode) +
             " flags=0x" + Hex16(flags) + " qd=" + std::to_string(qd);
    std::vector<uint8_t>& b = q.wire;
    Put16(b, id);
    Put16(b, flags);
    Put16(b, static_cast<uint16_t>(qd));
    Put16(b, 0);
    Put16(b, 0);
    bool edns = Chance(70);
    int opts = edns ? (Chance(2) ? 2 : 1) : 0;
    Put16(b, static_cast<uint16_t>(opts));
    for (int i = 0; i < qd; ++i) {
      PutName(b, name);
      Put16(b, qtype);
      Put16(b, qclass);
    }
    for (int i = 0; i < opts; ++i) AddOpt(q);
    return q;
  }

  static std::string Hex16(uint16_t v) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%04x", v);
    return buf;
  }

  void AddOpt(Query& q) {
    std::vector<uint8_t>& b = q.wire;
    const std::vector<uint16_t> sizes = {0, 100, 512, 513, 1232, 1400, 4096, 65535};
    uint16_t udp = OneOf(sizes);
    int v = Pick(100);
    uint8_t version = v < 90 ? 0 : v < 98 ? 1 : 255;
    bool do_bit = Chance(30);
    uint16_t z = do_bit ? 0x8000 : 0;
    if (Chance(5)) z |= static_cast<uint16_t>(1 + Pick(0x7fff));  // must-be-zero bits
    b.push_back(0);                                               // root
    Put16(b, 41);
    Put16(b, udp);
    b.push_back(0);  // extended rcode
    b.push_back(version);
    Put16(b, z);
    std::vector<uint8_t> rdata;
    q.what += " edns(v" + std::to_string(version) + " udp=" + std::to_string(udp) +
              (do_bit ? " do" : "") + (z & 0x7fff ? " z" : "");
    if (Chance(40)) q.bad_ecs |= AddEcs(rdata, q.what);
    if (Chance(30)) q.bad_cookie |= AddCookie(rdata, q.what);
    if (Chance(10)) {  // an unknown option
      uint16_t code = static_cast<uint16_t>(100 + Pick(60000));
      if (code == 8 || code == 10) code = 100;
      Put16(rdata, code);
      uint16_t len = static_cast<uint16_t>(Pick(9));
      Put16(rdata, len);
      for (int i = 0; i < len; ++i) rdata.push_back(static_cast<uint8_t>(Pick(256)));
      q.what += " opt" + std::to_string(code);
    }
    if (Chance(10)) {  // NSID, asked for (empty)
      Put16(rdata, 3);
      Put16(rdata, 0);
      q.what += " nsid";
    }
    if (Chance(5)) {  // padding
      uint16_t len = static_cast<uint16_t>(Pick(32));
      Put16(rdata, 12);
      Put16(rdata, len);
      rdata.insert(rdata.end(), len, 0);
      q.what += " padding";
    }
    if (Chance(2) && !rdata.empty()) {  // the option list cut short
      rdata.pop_back();
      q.what += " bad-optlen";
      q.malformed = true;
    }
    q.what += ")";
    Put16(b, static_cast<uint16_t>(rdata.size()));
    b.insert(b.end(), rdata.begin(), rdata.end());
  }

  // Returns whether the option is one to reject (RFC 7871 §6).
  bool AddEcs(std::vector<uint8_t>& rdata, std::string& what) {
    int kind = Pick(100);
    uint16_t family = kind < 60 ? 1 : kind < 95 ? 2 : 3;
    int max = family == 2 ? 128 : 32;
    uint8_t source = static_cast<uint8_t>(Pick(max + 1));
    uint8_t scope = Chance(5) ? static_cast<uint8_t>(1 + Pick(max)) : 0;
    size_t bytes = (source + 7) / 8;
    if (Chance(3)) bytes += 1;  // longer than the prefix: FORMERR (RFC 7871 §6)
    std::vector<uint8_t> addr;
    for (size_t i = 0; i < bytes; ++i) addr.push_back(static_cast<uint8_t>(Pick(256)));
    bool host_bits = false;
    if (source % 8 != 0 && !addr.empty() && bytes == (source + 7u) / 8) {
      if (Chance(90)) {
        addr.back() &= static_cast<uint8_t>(0xff << (8 - source % 8));  // host bits zero
      } else {
        host_bits = (addr.back() & static_cast<uint8_t>(0xff >> (source % 8))) != 0;
      }
    }
    Put16(rdata, 8);
    Put16(rdata, static_cast<uint16_t>(4 + addr.size()));
    Put16(rdata, family);
    rdata.push_back(source);
    rdata.push_back(scope);
    rdata.insert(rdata.end(), addr.begin(), addr.end());
    what += " ecs(f" + std::to_string(family) + "/" + std::to_string(source) + "/" +
            std::to_string(scope) + " " + std::to_string(addr.size()) + "B)";
    return family > 2 || host_bits || addr.size() != (source + 7u) / 8;
  }

  // Returns whether the length is one RFC 7873 §5.2.2 says to answer with FORMERR.
  bool AddCookie(std::vector<uint8_t>& rdata, std::string& what) {
    int kind = Pick(100);
    // 8: client only; 24: with a server cookie we never issued; else a bad length.
    size_t len = kind < 70 ? 8 : kind < 90 ? 24 : std::vector<size_t>{0, 5, 9, 41}[Pick(4)];
    Put16(rdata, 10);
    Put16(rdata, static_cast<uint16_t>(len));
    for (size_t i = 0; i < len; ++i) rdata.push_back(static_cast<uint8_t>(Pick(256)));
    what += " cookie" + std::to_string(len);
    return len != 8 && (len < 16 || len > 40);
  }

  std::mt19937_64 rng_;
  std::string zone_;
};

// ---- exchange ----------------------------------------------------------------------------

class Client {
 public:
  explicit Client(uint16_t port) : fd_(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {
    sa_.sin_family = AF_INET;
    sa_.sin_port = htons(port);
    sa_.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::connect(fd_, reinterpret_cast<sockaddr*>(&sa_), sizeof sa_);
  }
  ~Client() { ::close(fd_); }
  void Send(const std::vector<uint8_t>& q) const { (void)::send(fd_, q.data(), q.size(), 0); }
  // Replies by ID to the queries in `want` (IDs), until each has one or `timeout_ms`
  // passes. A reply whose ID is not wanted (late, or to junk) is dropped.
  std::map<uint16_t, std::vector<uint8_t>> Collect(const std::set<uint16_t>& want,
                                                   int timeout_ms) const {
    std::map<uint16_t, std::vector<uint8_t>> got;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (got.size() < want.size()) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                      deadline - std::chrono::steady_clock::now())
                      .count();
      if (left <= 0) break;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left)) <= 0) break;
      std::vector<uint8_t> buf(65535);
      ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
      if (n < 2) continue;
      buf.resize(static_cast<size_t>(n));
      uint16_t id = static_cast<uint16_t>(buf[0] << 8 | buf[1]);
      if (want.count(id) != 0) got.emplace(id, std::move(buf));
    }
    return got;
  }

 private:
  int fd_;
  sockaddr_in sa_{};
};

// ---- comparison --------------------------------------------------------------------------

// Options one server implements and the other need not, left out of both sides'
// comparison (docs/design.md, "Differences from Knot"): ECS (8; prewarm answers it with
// its location's scope), NSID (3) and Extended DNS Errors (15; Knot's), COOKIE (10; the
// reference runs without its cookie module, whose policy is to answer every query that
// lacks a valid server cookie with BADCOOKIE; prewarm's cookies have their own tests).
const std::set<uint16_t> kNotCompared = {3, 8, 10, 15};

// A field of Fields()'s map, "" when absent.
std::string Get(const std::map<std::string, std::string>& f, const char* key) {
  auto it = f.find(key);
  return it == f.end() ? std::string() : it->second;
}

std::string RrText(const ldns_rr* rr) {
  char* s = ldns_rr2str(rr);
  std::string out = s != nullptr ? s : "";
  std::free(s);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

// Names are compared without case (RFC 4343) except in the question, which must echo the
// query's bytes: servers differ in whether a name compressed against the question takes
// its case, and both are right.
std::vector<std::string> Section(const ldns_rr_list* list, bool fold_case) {
  std::vector<std::string> out;
  for (size_t i = 0; list != nullptr && i < ldns_rr_list_rr_count(list); ++i) {
    std::string text = RrText(ldns_rr_list_rr(list, i));
    if (fold_case) {
      for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    out.push_back(std::move(text));
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : " | ") + s;
  return out;
}

// The parts of a response that are compared, as named text fields.
std::map<std::string, std::string> Fields(const std::optional<std::vector<uint8_t>>& wire) {
  std::map<std::string, std::string> f;
  if (!wire) {
    f["response"] = "none";
    return f;
  }
  f["response"] = "yes";
  LdnsPkt p = FromWire(*wire);
  if (!p) {
    // Not parseable as a whole (a header-only FORMERR is): compare the header.
    f["parse"] = "ldns-rejects";
    if (wire->size() >= 4) {
      f["rcode"] = std::to_string((*wire)[3] & 0x0f);
      f["flags"] = std::to_string(((*wire)[2] << 8 | (*wire)[3]) & 0xfff0);
    }
    return f;
  }
  ldns_pkt* pk = p.get();
  int rcode =
      ldns_pkt_get_rcode(pk) | (ldns_pkt_edns(pk) ? ldns_pkt_edns_extended_rcode(pk) << 4 : 0);
  f["rcode"] = std::to_string(rcode);
  std::string flags;
  if (ldns_pkt_qr(pk)) flags += "qr ";
  if (ldns_pkt_aa(pk)) flags += "aa ";
  if (ldns_pkt_tc(pk)) flags += "tc ";
  if (ldns_pkt_rd(pk)) flags += "rd ";
  if (ldns_pkt_ra(pk)) flags += "ra ";
  if (ldns_pkt_ad(pk)) flags += "ad ";
  if (ldns_pkt_cd(pk)) flags += "cd ";
  f["flags"] = flags;
  f["opcode"] = std::to_string(ldns_pkt_get_opcode(pk));
  f["question"] = Join(Section(ldns_pkt_question(pk), false));
  f["answer"] = Join(Section(ldns_pkt_answer(pk), true));
  f["authority"] = Join(Section(ldns_pkt_authority(pk), true));
  f["additional"] = Join(Section(ldns_pkt_additional(pk), true));
  bool tc = ldns_pkt_tc(pk);
  if (tc) {
    // Where a response is cut is the server's choice (RFC 2181 §9): a truncated answer
    // is compared on its header only.
    f["answer"] = f["authority"] = f["additional"] = "(truncated)";
  }
  if (ldns_pkt_edns(pk)) {
    f["opt"] = "v" + std::to_string(ldns_pkt_edns_version(pk)) +
               (ldns_pkt_edns_do(pk) ? " do" : "") + " z=" + std::to_string(ldns_pkt_edns_z(pk)) +
               " udp=" + std::to_string(ldns_pkt_edns_udp_size(pk));
    std::string opts;
    ldns_edns_option_list* list = ldns_pkt_edns_get_option_list(pk);
    for (size_t i = 0; list != nullptr && i < ldns_edns_option_list_get_count(list); ++i) {
      ldns_edns_option* o = ldns_edns_option_list_get_option(list, i);
      uint16_t code = ldns_edns_get_code(o);
      size_t size = ldns_edns_get_size(o);
      if (kNotCompared.count(code) != 0) continue;
      opts += " opt" + std::to_string(code) + "/" + std::to_string(size);
    }
    f["options"] = opts;
  } else {
    f["opt"] = "none";
  }
  return f;
}

std::string Summary(const std::map<std::string, std::string>& f) {
  std::string out;
  for (const auto& [k, v] : f) out += k + "=[" + v + "] ";
  return out;
}

bool HeaderOnly(const std::map<std::string, std::string>& f) {
  return Get(f, "response") == "yes" && Get(f, "question").empty() && Get(f, "answer").empty() &&
         Get(f, "opt") == "none";
}

// The rule that makes a difference intended, or "" (then it is reported). Each rule is
// one documented behaviour (docs/design.md, "Differences from Knot").
std::string Intended(const Query& q, const std::map<std::string, std::string>& fa,
                     const std::map<std::string, std::string>& fb) {
  auto a = [&fa](const char* k) { return Get(fa, k); };
  auto b = [&fb](const char* k) { return Get(fb, k); };
  const std::string rc_a = a("rcode");
  // prewarm answers every query whose header it can read (FORMERR, or NOTIMP for another
  // opcode), header only; Knot drops what it cannot parse.
  if (b("response") == "none" && q.malformed && HeaderOnly(fa) && (rc_a == "1" || rc_a == "4")) {
    return "malformed: prewarm answers FORMERR/NOTIMP, Knot drops";
  }
  // Its FORMERR and NOTIMP answers are header only; Knot's repeat the question and OPT.
  if (HeaderOnly(fa) && (rc_a == "1" || rc_a == "4") && a("rcode") == b("rcode") &&
      a("flags") == b("flags")) {
    return "FORMERR/NOTIMP: prewarm header only, Knot with question and OPT";
  }
  // NOTIFY and UPDATE: prewarm implements neither (NOTIMP); Knot, with no ACL for them,
  // answers NOTAUTH.
  if ((q.opcode == 4 || q.opcode == 5) && rc_a == "4" && b("rcode") == "9") {
    return "NOTIFY/UPDATE: NOTIMP vs Knot's NOTAUTH";
  }
  // Another opcode is NOTIMP before the rest of the message is read; Knot reads it first
  // (FORMERR, BADVERS, REFUSED... from what it finds there) or drops it.
  if (q.opcode != 0 && rc_a == "4" && b("rcode") != "0") {
    return "opcode: NOTIMP before the message is parsed";
  }
  // Zone transfers: prewarm serves none (REFUSED); Knot, with no ACL, NOTAUTH (IXFR) or
  // NOTIMP/FORMERR (AXFR over UDP).
  if ((q.qtype == 251 || q.qtype == 252) && rc_a == "5") return "AXFR/IXFR: REFUSED";
  // The meta-type OPT as a question is FORMERR (RFC 6891 §6.1.1: OPT is not data);
  // Knot answers it as a data type.
  if (q.qtype == 41 && rc_a == "1") return "qtype OPT: FORMERR";
  // TYPE0 (reserved, RFC 6895): prewarm answers it as any unknown type; Knot NOTIMP.
  if (q.qtype == 0 && b("rcode") == "4") return "TYPE0: answered as an unknown type, Knot NOTIMP";
  // A malformed ECS option is FORMERR (RFC 7871 §6: unknown family, address longer than
  // the prefix, bits set beyond it); Knot, without ECS support, ignores the option.
  if (q.bad_ecs && rc_a == "1") return "malformed ECS: FORMERR (RFC 7871 6)";
  // No question: FORMERR before the EDNS version is looked at; Knot BADVERS first.
  if (q.malformed && rc_a == "1" && b("rcode") == "16")
    return "no question: FORMERR before BADVERS";
  // A COOKIE option of a bad length is FORMERR (RFC 7873 §5.2.2); Knot without its
  // cookie module ignores the option.
  if (q.bad_cookie && rc_a == "1") return "bad cookie length: FORMERR (RFC 7873 5.2.2)";
  // ANY (RFC 8482 lets a server answer with a subset): at the apex prewarm gives SOA and
  // NS, Knot one of them.
  if (q.qtype == 255 && a("rcode") == b("rcode") && a("answer") != b("answer") &&
      a("answer").find(b("answer")) != std::string::npos) {
    return "ANY: prewarm answers a superset of Knot's RRsets (RFC 8482)";
  }
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  int port_a = 0;
  int port_b = 0;
  int queries = 10000;
  uint64_t seed = 1;
  std::string zone = "edge.example.";
  int show = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    std::string v = argv[i + 1];
    if (k == "--a")
      port_a = std::stoi(v);
    else if (k == "--b")
      port_b = std::stoi(v);
    else if (k == "--queries")
      queries = std::stoi(v);
    else if (k == "--seed")
      seed = std::stoull(v);
    else if (k == "--zone")
      zone = v;
    else if (k == "--show")
      show = std::stoi(v);
    else {
      std::fprintf(stderr, "prewarm-dns-diff: unknown flag %s\n", k.c_str());
      return 2;
    }
  }
  if (port_a <= 0 || port_b <= 0 || queries <= 0 || queries > 1'000'000) {
    std::fprintf(stderr,
                 "usage: prewarm-dns-diff --a PORT --b PORT [--queries N<=1e6] [--seed S]\n");
    return 2;
  }
  Generator gen(seed, zone);
  Client a(static_cast<uint16_t>(port_a));
  Client b(static_cast<uint16_t>(port_b));
  std::map<std::string, int> diffs;  // field -> count
  std::map<std::string, int> shown;
  std::map<std::string, int> intended;  // rule -> queries it explained
  int differing = 0;
  int answered = 0;
  int silent = 0;
  // Windows of queries in flight to both servers at once; replies matched by ID (unique
  // per query: 7919 is prime to 2^16). Queries one server answered and the other did not
  // are sent again to the silent one, with a longer wait, so that a scheduling hiccup is
  // not reported as a difference.
  constexpr int kWindow = 100;
  for (int base = 0; base < queries; base += kWindow) {
    std::vector<Query> window;
    std::set<uint16_t> ids;
    for (int i = base; i < std::min(queries, base + kWindow); ++i) {
      uint16_t id = static_cast<uint16_t>(i * 7919 + 1);
      window.push_back(gen.Next(id));
      ids.insert(id);
    }
    for (const Query& q : window) {
      a.Send(q.wire);
      b.Send(q.wire);
    }
    auto got_a = a.Collect(ids, 200);
    auto got_b = b.Collect(ids, 200);
    // Answered by one only: asked again, together, of the silent one, up to 3 times with
    // longer waits (a server starved of CPU for a moment is not a difference). Malformed
    // queries are not: Knot drops those by design.
    for (int wait_ms : {300, 1000, 3000}) {
      std::set<uint16_t> again_a, again_b;
      for (size_t k = 0; k < window.size(); ++k) {
        uint16_t id = static_cast<uint16_t>((base + static_cast<int>(k)) * 7919 + 1);
        bool in_a = got_a.count(id) != 0, in_b = got_b.count(id) != 0;
        if (in_a == in_b || window[k].malformed) continue;
        (in_a ? b : a).Send(window[k].wire);
        (in_a ? again_b : again_a).insert(id);
      }
      if (again_a.empty() && again_b.empty()) break;
      if (!again_a.empty()) got_a.merge(a.Collect(again_a, wait_ms));
      if (!again_b.empty()) got_b.merge(b.Collect(again_b, wait_ms));
    }
    for (size_t k = 0; k < window.size(); ++k) {
      const Query& q = window[k];
      const int i = base + static_cast<int>(k);
      uint16_t id = static_cast<uint16_t>(i * 7919 + 1);
      std::optional<std::vector<uint8_t>> ra, rb;
      if (auto it = got_a.find(id); it != got_a.end() && q.wire.size() >= 2) ra = it->second;
      if (auto it = got_b.find(id); it != got_b.end() && q.wire.size() >= 2) rb = it->second;
      (ra ? answered : silent) += 1;
      auto fa = Fields(ra);
      auto fb = Fields(rb);
      std::string rule = Intended(q, fa, fb);
      std::set<std::string> keys;
      for (const auto& [key, v] : fa) keys.insert(key);
      for (const auto& [key, v] : fb) keys.insert(key);
      bool first = true;
      bool differs = false;
      bool counted = false;
      for (const std::string& key : keys) {
        std::string va = fa.count(key) ? fa[key] : "(absent)";
        std::string vb = fb.count(key) ? fb[key] : "(absent)";
        if (va == vb) continue;
        differs = true;
        if (!rule.empty()) continue;
        counted = true;
        ++diffs[key];
        if (first && shown[key]++ < show) {
          first = false;
          std::printf("DIFF %s: query #%d %s\n  prewarm:   %s\n  reference: %s\n", key.c_str(), i,
                      q.what.c_str(), Summary(fa).c_str(), Summary(fb).c_str());
        }
      }
      if (differs && !rule.empty()) ++intended[rule];
      if (counted) ++differing;
    }
  }
  for (const auto& [rule, n] : intended) {
    std::printf("intended (documented): %-70s %d\n", rule.c_str(), n);
  }
  std::printf("queries %d, prewarm answered %d, silent %d; unexplained differences: %d queries\n",
              queries, answered, silent, differing);
  for (const auto& [k, n] : diffs) std::printf("  field %s: %d\n", k.c_str(), n);
  return differing == 0 ? 0 : 1;
}
