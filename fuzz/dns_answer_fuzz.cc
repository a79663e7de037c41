// libFuzzer target for the whole answer path, as the orchestrator ships it: the zone
// rules (dns::Authority), EDNS Client Subnet, DNS cookies with a server secret, response
// rate limiting, and the orchestrator's real resolver and placement (OrchestratorResolver,
// ChooseCandidates/ChooseInstance, the cold path, the demand feed) over a routing snapshot
// that the input describes: up to 6 nodes in 4 regions (and one unknown region), IPv4 or
// IPv6 ranges, READY and STARTING instances of 3 templates with their loads. Clients are
// placed by the `networks:` overrides and, when PREWARM_FUZZ_MMDB names a database made by
// src/geo/testdata/write_mmdb.pl (tools/run-fuzz makes one), by GeoIP countries and
// coordinates.
//
// One input is: a snapshot, a choice of rate limits, then up to 8 queries, each either raw
// bytes or built from parts (a name and type from lists, EDNS, ECS, a cookie: none, client
// only, a server cookie the previous response gave, or junk), sent from one of a dozen
// sources over UDP or TCP, with the clock moved between them. For each query:
//  1. Two Authorities built from the same zone, one answering A/AAAA from the resolver's
//     precomputed RouteTable (ResolveWire) and one always by Resolve, must send the same
//     bytes and count the same resolver outcomes (the power-of-two choice is fed the same
//     random number on both).
//  2. A response parses, has QR set and the query's id, fits the transport (UDP: the
//     client's EDNS size, at most 1232; 512 without EDNS), and its ECS scope is at most
//     the query's source prefix.
//  3. Every address in an answer is an instance of the snapshot or the origin's.
//  4. A UDP query carrying a valid server cookie (echoed from an earlier response to the
//     same source) is never rate-limited, unless it is refused before its cookie is read
//     (FORMERR, NOTIMP).
// Build and run with tools/run-fuzz.
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "autoscale/snapshot.h"
#include "common/yaml_reader.h"
#include "dns/codec.h"
#include "dns/writer.h"
#include "dns/zone.h"
#include "geo/mmdb.h"
#include "orchestrator/config.h"
#include "orchestrator/event_feed.h"
#include "orchestrator/replica.h"
#include "orchestrator/resolver.h"
#include "store/memory_kv.h"

namespace prewarm::fuzz {
namespace {

using orchestrator::InstanceHeat;
using orchestrator::RoutedInstance;
using orchestrator::RoutedNode;
using orchestrator::RoutingSnapshot;

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "dns_answer_fuzz: invariant violated: %s\n", what);
    std::abort();
  }
}

// Reads the input front to back; past its end every read is 0.
class Input {
 public:
  explicit Input(std::span<const uint8_t> in) : in_(in) {}
  bool empty() const { return in_.empty(); }
  uint8_t U8() {
    if (in_.empty()) return 0;
    uint8_t v = in_[0];
    in_ = in_.subspan(1);
    return v;
  }
  uint16_t U16() { return static_cast<uint16_t>((U8() << 8) | U8()); }
  uint32_t U32() { return (uint32_t{U16()} << 16) | U16(); }
  uint64_t U64() { return (uint64_t{U32()} << 32) | U32(); }
  std::span<const uint8_t> Bytes(size_t n) {
    n = std::min(n, in_.size());
    std::span<const uint8_t> out = in_.first(n);
    in_ = in_.subspan(n);
    return out;
  }

 private:
  std::span<const uint8_t> in_;
};

constexpr const char* kConfig = R"(
zone: edge.example.
origin: {addresses: [192.0.2.53, 2001:db8::53]}
nameservers:
  - {name: ns1.edge.example., addresses: [198.51.100.53, 2001:db8::35]}
  - {name: ns.other.example.}
services:
  - {name: static, template: static}
  - {name: www, template: static}
  - {name: video}
  - {name: api, template: api}
regions:
  - {name: frankfurt, latitude: 50.11, longitude: 8.68}
  - {name: virginia, latitude: 38.95, longitude: -77.45}
  - {name: singapore, latitude: 1.35, longitude: 103.82}
  - {name: saopaulo, latitude: -23.55, longitude: -46.63}
networks:
  - {cidr: 192.0.2.0/24, region: frankfurt}
  - {cidr: 198.51.100.0/24, region: virginia}
  - {cidr: 203.0.113.0/25, region: singapore}
  - {cidr: 2001:db8:1::/48, region: saopaulo}
  - {cidr: 127.0.0.0/16, region: frankfurt}
default_region: virginia
)";

constexpr const char* kGeoIp = R"(
dns:
  geoip:
    database: {}
    countries: {DE: frankfurt, SG: singapore, BR: saopaulo}
)";

constexpr std::array<const char*, 4> kRegions = {"frankfurt", "virginia", "singapore", "saopaulo"};
constexpr std::array<geo::GeoPoint, 4> kPoints = {
    geo::GeoPoint{50.11, 8.68}, geo::GeoPoint{38.95, -77.45}, geo::GeoPoint{1.35, 103.82},
    geo::GeoPoint{-23.55, -46.63}};
constexpr std::array<const char*, 3> kTemplates = {"static", "video", "api"};

// Sources: in and out of the overrides, in the GeoIP test database's networks (see
// tools/run-fuzz), and nowhere.
constexpr std::array<const char*, 12> kSources = {
    "127.0.0.1",     "127.0.1.9",  "192.0.2.7",        "198.51.100.7",
    "203.0.113.200", "100.64.0.1", "81.2.69.160",      "175.16.199.1",
    "2001:db8:1::5", "::1",        "2001:db8:ffff::1", "89.160.20.112"};

// The random number the power-of-two choice draws: the same on both paths.
uint64_t pick_random = 0;
uint64_t PickRandom() { return pick_random; }

struct World {
  World() : kv(clock) {}
  ManualClock clock;
  orchestrator::OrchestratorConfig config;
  store::MemoryKv kv;
  orchestrator::SnapshotHolder snaps;
  std::unique_ptr<orchestrator::Replica> replica;   // its ColdPath, over `snaps`
  std::unique_ptr<orchestrator::EventFeed> events;  // demand, as the forecaster gets it
  std::unique_ptr<geo::MmdbLocator> mmdb;
  std::unique_ptr<orchestrator::OrchestratorResolver> resolver;
  // [limits][0: precomputed, 1: general]
  std::vector<std::array<std::unique_ptr<dns::Authority>, 2>> authorities;
};

orchestrator::OrchestratorConfig LoadConfig() {
  std::string yaml = kConfig;
  const char* mmdb = std::getenv("PREWARM_FUZZ_MMDB");
  if (mmdb != nullptr && *mmdb != '\0') {
    std::string geoip = kGeoIp;
    geoip.replace(geoip.find("{}"), 2, mmdb);
    yaml += geoip;
  }
  auto reader = YamlReader::FromString(yaml, "dns_answer_fuzz.yaml");
  Check(reader.ok(), "the fuzzer's config is YAML");
  auto config = orchestrator::ParseOrchestratorConfig(*reader);
  if (!config.ok()) std::fprintf(stderr, "%s\n", config.status().ToString().c_str());
  Check(config.ok(), "the fuzzer's config parses");
  return *config;
}

World& TheWorld() {
  static World* w = [] {
    auto* w = new World();
    w->clock.Set(1'760'000'000'000);
    w->config = LoadConfig();
    orchestrator::ReplicaOptions no_threads;
    no_threads.threads = false;
    // Never started: its ColdPath re-decides on `snaps` and finds no node in its (empty)
    // cluster cache to claim an address on, as when every standby address is taken.
    w->replica = std::make_unique<orchestrator::Replica>(w->config, w->clock, w->kv, w->snaps,
                                                         nullptr, no_threads);
    if (w->config.dns_geoip.enabled()) {
      auto loc = geo::MmdbLocator::Open(w->config.dns_geoip.database,
                                        orchestrator::MakeGeoMapping(w->config));
      if (!loc.ok()) std::fprintf(stderr, "%s\n", loc.status().ToString().c_str());
      Check(loc.ok(), "PREWARM_FUZZ_MMDB opens");
      w->mmdb = std::move(*loc);
    }
    w->events = std::make_unique<orchestrator::EventFeed>(w->config, w->clock);
    w->resolver = std::make_unique<orchestrator::OrchestratorResolver>(
        w->config, w->snaps, w->replica->cold(), w->clock, w->events.get());
    w->resolver->SetRandomForTest(PickRandom);
    w->resolver->SetGeoDatabase(w->mmdb.get());
    // Rate limits: off (library default), the orchestrator's (config defaults), and tight
    // ones that the input's bursts reach, with one shared bucket or a keyed table.
    dns::SipKey rrl_key{};
    rrl_key[0] = 42;
    const dns::RrlOptions limits[] = {
        {.responses_per_s = 0},
        w->config.dns_rrl,
        {.responses_per_s = 2, .slip = 0, .table_size = 1},
        {.responses_per_s = 3, .slip = 1, .table_size = 64},
        {.responses_per_s = 1, .slip = 2, .table_size = 1024},
    };
    dns::CookieSecret master{9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5, 6};
    for (const dns::RrlOptions& rrl : limits) {
      auto& pair = w->authorities.emplace_back();
      for (int general = 0; general < 2; ++general) {
        dns::ZoneConfig z = orchestrator::MakeZone(w->config);
        z.soa.serial = 2026120601;
        z.cookies.master = master;
        z.rrl = rrl;
        z.rrl_key = rrl_key;  // both Authorities place networks alike
        z.precomputed = general == 0;
        auto a = dns::Authority::Create(z, *w->resolver, w->clock);
        Check(a.ok(), "the zone is valid");
        pair[general] = std::move(*a);
      }
    }
    return w;
  }();
  return *w;
}

// The snapshot the input describes, and every address it may answer with.
std::shared_ptr<RoutingSnapshot> MakeSnapshot(Input& in, std::set<IpAddr>& allowed) {
  auto s = std::make_shared<RoutingSnapshot>();
  const int nodes = in.U8() % 7;
  for (int i = 0; i < nodes; ++i) {
    const uint8_t r = in.U8();
    const uint8_t bits = in.U8();
    const size_t region = r % 5;  // 4: a region the config does not know
    RoutedNode n;
    n.id = "n" + std::to_string(i);
    n.region = region < 4 ? kRegions[region] : "atlantis";
    n.point = kPoints[region % 4];
    n.point.lat += static_cast<int8_t>(in.U8()) / 16.0;
    n.point.lon += static_cast<int8_t>(in.U8()) / 16.0;
    n.family = (bits & 1) ? AF_INET6 : AF_INET;
    n.can_reserve = (bits & 2) != 0;
    for (size_t t = 0; t < kTemplates.size(); ++t) {
      if (bits & (4 << t)) n.templates.insert(kTemplates[t]);
    }
    s->nodes.push_back(std::move(n));
  }
  const int instances = nodes == 0 ? 0 : in.U8() % 10;
  for (int i = 0; i < instances; ++i) {
    const uint8_t bits = in.U8();
    const uint32_t node = in.U8() % static_cast<uint32_t>(nodes);
    const std::string tmpl = bits % 4 < 3 ? kTemplates[bits % 4] : "retired";
    IpAddr address =
        s->nodes[node].family == AF_INET6
            ? *IpAddr::Parse("2001:db8:77:" + std::to_string(node) + "::" + std::to_string(i + 1))
            : IpAddr::V4(0x7F4D0000u | (node << 8) | static_cast<uint32_t>(i + 1));
    auto heat = std::make_shared<InstanceHeat>();
    heat->load.store(in.U8() % 8);
    allowed.insert(address);
    s->instances[tmpl].push_back(
        RoutedInstance{"i" + std::to_string(i), address, node, (bits & 4) != 0, heat});
  }
  return s;
}

constexpr std::array<const char*, 14> kNames = {
    "static.edge.example.",   "STATIC.Edge.Example.",
    "www.edge.example.",      "video.edge.example.",
    "api.edge.example.",      "nosuch.edge.example.",
    "edge.example.",          "ns1.edge.example.",
    "a.static.edge.example.", "ns.other.example.",
    "example.com.",           "static.edge.example.com.",
    "ViDeO.eDgE.eXaMpLe.",    "."};
constexpr std::array<uint16_t, 12> kTypes = {1, 28, 1, 28, 255, 2, 6, 16, 252, 41, 0, 65535};
constexpr std::array<uint16_t, 4> kClasses = {1, 1, 255, 3};

// What a query built from parts carried, for the checks on its answer.
struct Sent {
  std::vector<uint8_t> wire;
  bool valid_cookie = false;  // a server cookie this source got back before
};

// The last cookie a source was given: its client and server parts.
struct Jar {
  std::optional<dns::Cookie> cookie;
};

Sent BuildQuery(Input& in, Jar& jar) {
  dns::Message m;
  m.header.id = in.U16();
  const uint8_t flags = in.U8();
  m.header.flags = static_cast<uint16_t>(((flags & 1) ? dns::Header::kRd : 0) |
                                         ((flags & 2) ? dns::Header::kCd : 0) |
                                         ((flags & 4) ? dns::Header::kAd : 0));
  if ((flags & 0xF0) == 0xF0) m.header.flags |= static_cast<uint16_t>((flags & 0x0F) << 11);
  const uint8_t pick = in.U8();
  auto name = dns::Name::FromText(kNames[pick % kNames.size()]);
  Check(name.ok(), "the fuzzer's names parse");
  m.questions.push_back(dns::Question{*name, kTypes[in.U8() % kTypes.size()],
                                      kClasses[(pick >> 4) % kClasses.size()]});
  Sent sent;
  const uint8_t edns = in.U8();
  if (edns & 1) {
    dns::Edns e;
    e.udp_size = in.U16();
    e.version = (edns & 2) ? in.U8() % 3 : 0;
    e.dnssec_ok = (edns & 4) != 0;
    switch ((edns >> 3) & 3) {
      case 1: {  // ECS, valid
        const bool v6 = in.U8() & 1;
        std::array<uint8_t, 16> b{};
        for (auto& x : b) x = in.U8();
        IpAddr a = v6 ? IpAddr::V6(b) : IpAddr::V4(in.U32());
        const uint8_t prefix = static_cast<uint8_t>(in.U8() % (v6 ? 129 : 33));
        e.ecs = dns::ClientSubnet{a.Masked(prefix), prefix, 0};
        break;
      }
      case 2: {  // an ECS option of raw bytes: often invalid
        std::span<const uint8_t> raw = in.Bytes(in.U8() % 24);
        e.options.push_back(dns::EdnsOption{8, {raw.begin(), raw.end()}});
        break;
      }
      default:
        break;
    }
    switch ((edns >> 5) & 7) {
      case 1:
      case 2: {  // a new client cookie
        dns::Cookie c;
        for (auto& x : c.client) x = in.U8();
        e.cookie = c;
        break;
      }
      case 3:
      case 4:  // the one we were given
        if (jar.cookie) {
          e.cookie = jar.cookie;
          sent.valid_cookie = true;
        }
        break;
      case 5: {  // junk as a server cookie
        dns::Cookie c;
        for (auto& x : c.client) x = in.U8();
        c.server_size = static_cast<uint8_t>(8 + in.U8() % 25);
        for (uint8_t i = 0; i < c.server_size; ++i) c.server[i] = in.U8();
        e.cookie = c;
        break;
      }
      case 6: {  // a COOKIE option of any length
        std::span<const uint8_t> raw = in.Bytes(in.U8() % 48);
        e.options.push_back(dns::EdnsOption{10, {raw.begin(), raw.end()}});
        break;
      }
      default:
        break;
    }
    m.edns = e;
  }
  std::vector<uint8_t> buf(1024);
  auto n = dns::EncodeMessage(m, buf);
  Check(n.ok(), "a query built from parts encodes");
  buf.resize(*n);
  sent.wire = std::move(buf);
  return sent;
}

struct Counts {
  uint64_t ready, starting, cold, remote, origin;
  friend bool operator==(const Counts&, const Counts&) = default;
};
Counts Now(const orchestrator::ResolverCounters& c) {
  return {c.ready.load(), c.starting.load(), c.cold.load(), c.remote.load(), c.origin.load()};
}
Counts Minus(const Counts& a, const Counts& b) {
  return {a.ready - b.ready, a.starting - b.starting, a.cold - b.cold, a.remote - b.remote,
          a.origin - b.origin};
}

void CheckResponse(std::span<const uint8_t> query, std::span<const uint8_t> out, bool tcp,
                   const std::set<IpAddr>& allowed, Jar& jar) {
  absl::StatusOr<dns::Message> r = dns::ParseMessage(out);
  Check(r.ok(), "our responses parse");
  Check(r->header.qr(), "responses have QR set");
  Check(query.size() >= 2 && r->header.id == dns::Load16(query.data()), "responses echo the id");
  absl::StatusOr<dns::Query> q = dns::ParseQuery(query);
  if (!tcp) {
    size_t limit = dns::kClassicUdpSize;
    if (q.ok() && q->edns) {
      limit = std::clamp<size_t>(q->edns->udp_size, dns::kClassicUdpSize, 1232);
    }
    Check(out.size() <= limit, "UDP answers fit the client's buffer and ours");
  }
  if (q.ok() && r->edns && r->edns->ecs) {
    Check(q->edns && q->edns->ecs, "ECS is answered only when asked");
    Check(r->edns->ecs->scope_prefix <= q->edns->ecs->source_prefix,
          "the ECS scope is at most the source prefix");
  }
  for (const dns::ResourceRecord& rr : r->answers) {
    if (rr.type != dns::rrtype::kA && rr.type != dns::rrtype::kAAAA) continue;
    const IpAddr* a = std::get_if<IpAddr>(&rr.data);
    Check(a != nullptr, "address records hold an address");
    // The apex's NS glue is an address record too, for ns1.edge.example.
    static const std::set<IpAddr> fixed = {
        *IpAddr::Parse("192.0.2.53"), *IpAddr::Parse("2001:db8::53"),
        *IpAddr::Parse("198.51.100.53"), *IpAddr::Parse("2001:db8::35")};
    Check(allowed.contains(*a) || fixed.contains(*a),
          "answers name an instance of the snapshot, the origin or the glue");
  }
  if (r->edns && r->edns->cookie && r->edns->cookie->server_size > 0) {
    jar.cookie = r->edns->cookie;
  }
}

void AnswerOne(World& w, size_t limits, std::span<const uint8_t> query, const dns::ClientInfo& c,
               bool valid_cookie, const std::set<IpAddr>& allowed, Jar& jar) {
  dns::Authority& fast = *w.authorities[limits][0];
  dns::Authority& general = *w.authorities[limits][1];
  // Reused: allocating and zeroing 64 KiB twice per answer was most of the time per input.
  static std::vector<uint8_t>& a = *new std::vector<uint8_t>(65535);
  static std::vector<uint8_t>& b = *new std::vector<uint8_t>(65535);
  const dns::StatsSnapshot stats_before = fast.stats().Snapshot();
  const Counts c0 = Now(w.resolver->counters());
  const size_t n = fast.Answer(query, c, a);
  const Counts c1 = Now(w.resolver->counters());
  const size_t g = general.Answer(query, c, b);
  const Counts c2 = Now(w.resolver->counters());
  Check(n == g && std::equal(a.begin(), a.begin() + static_cast<ptrdiff_t>(n), b.begin()),
        "the precomputed path sends what the general path sends");
  Check(Minus(c1, c0) == Minus(c2, c1), "both paths count the same resolver outcomes");
  const dns::StatsSnapshot stats_after = fast.stats().Snapshot();
  // (A query that does not parse, or of another opcode, is refused before its cookie is
  // read, and limited like any.)
  const std::optional<dns::Header> h = dns::ReadHeader(query);
  if (valid_cookie && !c.tcp && h && h->opcode() == dns::kOpcodeQuery &&
      dns::ParseQuery(query).ok()) {
    Check(stats_after.rrl_dropped == stats_before.rrl_dropped &&
              stats_after.rrl_slipped == stats_before.rrl_slipped,
          "a valid server cookie is never rate-limited");
  }
  if (n > 0) CheckResponse(query, {a.data(), n}, c.tcp, allowed, jar);
}

}  // namespace
}  // namespace prewarm::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace prewarm;
  using namespace prewarm::fuzz;
  World& w = TheWorld();
  Input in({data, size});
  // Every rate-limit bucket is full again, and server cookies made by earlier inputs are
  // outside the window of this one's.
  w.clock.Advance(4'000'000);
  std::set<IpAddr> allowed;
  w.snaps.Store(MakeSnapshot(in, allowed));
  const size_t limits = in.U8() % w.authorities.size();
  std::array<Jar, kSources.size()> jars;
  for (int i = 0; i < 8 && !in.empty(); ++i) {
    const uint8_t ctl = in.U8();
    const size_t src = in.U8() % kSources.size();
    w.clock.Advance(int64_t{in.U8()} * ((ctl & 8) ? 64 : 1));
    pick_random = in.U64();
    dns::ClientInfo client{*IpAddr::Parse(kSources[src]), std::nullopt, (ctl & 1) != 0};
    if (ctl & 2) {
      std::span<const uint8_t> raw = in.Bytes(in.U16() % 1024);
      AnswerOne(w, limits, raw, client, false, allowed, jars[src]);
    } else {
      Sent q = BuildQuery(in, jars[src]);
      const int repeat = (ctl & 4) ? 1 + (ctl >> 4) : 1;  // a burst, for the rate limits
      for (int k = 0; k < repeat; ++k) {
        AnswerOne(w, limits, q.wire, client, q.valid_cookie, allowed, jars[src]);
      }
    }
  }
  return 0;
}
