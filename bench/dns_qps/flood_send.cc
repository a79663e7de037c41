// flood_send: the flood of bench/dns_qps/flood.sh. Sends the queries of a dnsperf-format
// file ("NAME TYPE" per line) round robin, from one source address, at a fixed rate, for a
// fixed time, in batches of sendmmsg. Unlike dnsperf it keeps no query state: it does not
// wait for answers, match them or time them out (a flood under rate limiting is mostly
// unanswered), so one core sends several times what a dnsperf process can. Answers are
// drained without blocking and counted.
//
//   flood_send --server 127.0.0.1 --port 5300 --bind 127.0.0.11 --queries FILE
//              --qps 200000 --seconds 30 [--max N]
//
// Prints dnsperf's "Queries sent:" line (flood.sh reads it), the answers received and the
// rate achieved. Loopback only: --server and --bind must be in 127.0.0.0/8.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "dns/codec.h"
#include "dns/name.h"
#include "dns/wire.h"
#include "dns/writer.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace dns = prewarm::dns;

constexpr size_t kBatch = 64;
constexpr size_t kMaxQuery = 512;

struct Args {
  std::string server = "127.0.0.1";
  int port = 0;
  std::string bind;
  std::string queries;
  double qps = 0;
  double seconds = 0;
  uint64_t max = UINT64_MAX;
};

[[noreturn]] void Die(const std::string& why) {
  std::fprintf(stderr, "flood_send: %s\n", why.c_str());
  std::exit(2);
}

bool ParseNumber(std::string_view s, double lo, double hi, double& out) {
  char* end = nullptr;
  std::string copy(s);
  double v = std::strtod(copy.c_str(), &end);
  if (copy.empty() || end != copy.c_str() + copy.size() || !(v >= lo && v <= hi)) return false;
  out = v;
  return true;
}

Args Parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; i += 2) {
    std::string_view flag = argv[i];
    if (i + 1 >= argc) Die(std::string(flag) + " needs a value");
    std::string_view v = argv[i + 1];
    double n = 0;
    if (flag == "--server") {
      a.server = v;
    } else if (flag == "--bind") {
      a.bind = v;
    } else if (flag == "--queries") {
      a.queries = v;
    } else if (flag == "--port") {
      if (!ParseNumber(v, 1, 65535, n)) Die("--port must be 1-65535");
      a.port = static_cast<int>(n);
    } else if (flag == "--qps") {
      if (!ParseNumber(v, 1, 1e8, a.qps)) Die("--qps must be 1-1e8");
    } else if (flag == "--seconds") {
      if (!ParseNumber(v, 0.001, 3600, a.seconds)) Die("--seconds must be 0.001-3600");
    } else if (flag == "--max") {
      if (!ParseNumber(v, 1, 1e12, n)) Die("--max must be 1-1e12");
      a.max = static_cast<uint64_t>(n);
    } else {
      Die("unknown flag " + std::string(flag) +
          " (usage: --server IP --port P --bind IP --queries FILE --qps N --seconds S [--max N])");
    }
  }
  if (a.port == 0 || a.bind.empty() || a.queries.empty() || a.qps == 0 || a.seconds == 0) {
    Die("--port, --bind, --queries, --qps and --seconds are required");
  }
  return a;
}

sockaddr_in Loopback(const std::string& ip, int port, const char* what) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, ip.c_str(), &sa.sin_addr) != 1)
    Die(std::string(what) + ": not an IPv4 address: " + ip);
  if ((ntohl(sa.sin_addr.s_addr) >> 24) != 127)
    Die(std::string(what) + " must be in 127.0.0.0/8: " + ip);
  return sa;
}

uint16_t TypeOf(std::string_view t) {
  static constexpr std::array<std::pair<std::string_view, uint16_t>, 7> kTypes = {{
      {"A", dns::rrtype::kA},
      {"NS", dns::rrtype::kNS},
      {"CNAME", dns::rrtype::kCNAME},
      {"SOA", dns::rrtype::kSOA},
      {"AAAA", dns::rrtype::kAAAA},
      {"ANY", dns::rrtype::kANY},
      {"TXT", 16},
  }};
  for (const auto& [name, code] : kTypes) {
    if (name == t) return code;
  }
  return 0;
}

// Each line's query on the wire (ID 0; the ID is set per packet).
std::vector<std::vector<uint8_t>> LoadQueries(const std::string& path) {
  std::ifstream in(path);
  if (!in) Die("cannot read " + path);
  std::vector<std::vector<uint8_t>> out;
  std::string line;
  for (int no = 1; std::getline(in, line); ++no) {
    if (line.empty() || line[0] == '#') continue;
    size_t sp = line.find_first_of(" \t");
    std::string name = line.substr(0, sp);
    std::string type =
        sp == std::string::npos ? "A" : line.substr(line.find_first_not_of(" \t", sp));
    while (!type.empty() && (type.back() == ' ' || type.back() == '\t' || type.back() == '\r')) {
      type.pop_back();
    }
    auto qname = dns::Name::FromText(name);
    if (!qname.ok())
      Die(path + ":" + std::to_string(no) + ": " + std::string(qname.status().message()));
    uint16_t qtype = TypeOf(type);
    if (qtype == 0) Die(path + ":" + std::to_string(no) + ": unknown type '" + type + "'");
    dns::Message m;
    m.header.flags = dns::Header::kRd;  // as dnsperf sends them
    m.questions.push_back({*qname, qtype, dns::kClassIN});
    std::vector<uint8_t> wire(kMaxQuery);
    auto n = dns::EncodeMessage(m, wire);
    if (!n.ok()) Die(path + ":" + std::to_string(no) + ": " + std::string(n.status().message()));
    wire.resize(*n);
    out.push_back(std::move(wire));
  }
  if (out.empty()) Die(path + ": no queries");
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  Args a = Parse(argc, argv);
  const std::vector<std::vector<uint8_t>> queries = LoadQueries(a.queries);
  sockaddr_in to = Loopback(a.server, a.port, "--server");
  sockaddr_in from = Loopback(a.bind, 0, "--bind");

  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) Die(std::string("socket: ") + std::strerror(errno));
  if (bind(fd, reinterpret_cast<const sockaddr*>(&from), sizeof from) != 0) {
    Die("bind " + a.bind + ": " + std::strerror(errno));
  }
  if (connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0) {
    Die("connect " + a.server + ": " + std::strerror(errno));
  }

  std::array<std::array<uint8_t, kMaxQuery>, kBatch> bufs{};
  std::array<iovec, kBatch> iov{};
  std::array<mmsghdr, kBatch> msgs{};
  std::array<uint8_t, 1> rbuf_small{};  // answers are counted, not read: truncated into this
  std::array<iovec, kBatch> riov{};
  std::array<mmsghdr, kBatch> rmsgs{};
  for (size_t i = 0; i < kBatch; ++i) {
    riov[i] = {rbuf_small.data(), rbuf_small.size()};
    rmsgs[i].msg_hdr.msg_iov = &riov[i];
    rmsgs[i].msg_hdr.msg_iovlen = 1;
  }

  uint64_t sent = 0, answers = 0, send_errors = 0;
  size_t next = 0;
  uint16_t id = 1;
  const auto start = Clock::now();
  const auto end =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(a.seconds));
  for (auto now = start; now < end && sent < a.max; now = Clock::now()) {
    const double elapsed = std::chrono::duration<double>(now - start).count();
    const auto due = static_cast<uint64_t>(elapsed * a.qps) + 1;
    uint64_t want = std::min<uint64_t>({due > sent ? due - sent : 0, kBatch, a.max - sent});
    if (want == 0) {
      // Ahead of the rate: wait for the next query's time.
      std::this_thread::sleep_for(std::chrono::duration<double>((sent + 1) / a.qps - elapsed));
      continue;
    }
    for (size_t i = 0; i < want; ++i) {
      const std::vector<uint8_t>& q = queries[next];
      next = (next + 1) % queries.size();
      std::memcpy(bufs[i].data(), q.data(), q.size());
      bufs[i][0] = static_cast<uint8_t>(id >> 8);
      bufs[i][1] = static_cast<uint8_t>(id & 0xFF);
      id = static_cast<uint16_t>(id + 1);
      iov[i] = {bufs[i].data(), q.size()};
      msgs[i] = {};
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    int n = sendmmsg(fd, msgs.data(), static_cast<unsigned>(want), 0);
    if (n > 0) {
      sent += static_cast<uint64_t>(n);
    } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS &&
               errno != ECONNREFUSED) {
      Die(std::string("sendmmsg: ") + std::strerror(errno));
    } else {
      ++send_errors;  // the socket's send queue is full (or the server is not up yet)
    }
    for (int r; (r = recvmmsg(fd, rmsgs.data(), kBatch, MSG_DONTWAIT | MSG_TRUNC, nullptr)) > 0;) {
      answers += static_cast<uint64_t>(r);
    }
  }
  const double took = std::chrono::duration<double>(Clock::now() - start).count();
  for (int r; (r = recvmmsg(fd, rmsgs.data(), kBatch, MSG_DONTWAIT | MSG_TRUNC, nullptr)) > 0;) {
    answers += static_cast<uint64_t>(r);
  }
  close(fd);
  std::printf("  Queries sent:         %llu\n", static_cast<unsigned long long>(sent));
  std::printf("  Answers received:     %llu\n", static_cast<unsigned long long>(answers));
  std::printf("  Full send queue:      %llu times\n", static_cast<unsigned long long>(send_errors));
  std::printf("  Run time (s):         %.3f\n", took);
  std::printf("  Queries per second:   %.0f\n", static_cast<double>(sent) / took);
  return 0;
}
