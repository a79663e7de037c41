// The orchestrator's configuration (one YAML file; see examples/orchestrator.yaml).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "autoscale/settings.h"
#include "common/net.h"
#include "common/yaml_reader.h"
#include "dns/cookie.h"
#include "dns/rrl.h"
#include "dns/server.h"
#include "dns/zone.h"
#include "geo/geo.h"
#include "security/tls.h"

namespace prewarm::orchestrator {

struct RegionConfig {
  std::string name;
  geo::GeoPoint point;
};

struct NetworkConfig {
  Cidr cidr;
  std::string region;
  geo::GeoPoint point;  // the region's unless overridden
};

// dns.geoip: client location from a MaxMind-format database (geo/mmdb.h), consulted
// after the `networks:` overrides. Off unless `database` is given.
struct GeoIpConfig {
  std::string database;                          // path to a .mmdb file
  std::map<std::string, std::string> countries;  // ISO code (upper case) -> region
  int64_t reload_check_ms = 5'000;               // stat the file this often; 0: SIGHUP only
  bool enabled() const { return !database.empty(); }
};

struct NsConfig {
  std::string name;  // absolute, lowercase, e.g. "ns1.edge.example."
  std::vector<IpAddr> glue;
};

// What the orchestrator knows about a template for the forecaster: its plan (which sets
// the cost of a cold start) and its mean service time.
struct TemplateInfo {
  std::string tier = "standard";
  double service_time_s = 0.05;
  uint32_t concurrency = 10;  // requests one instance serves at once (autoscaler target)
  int64_t keepalive_ms = 0;   // idle this long -> may be drained (0: the global keepalive)
};

// Where the cluster's state lives and how replicas share it (docs/design.md, "Cluster").
struct ClusterConfig {
  std::string replica_id;                   // unique per replica; default "<hostname>-<grpc port>"
  std::string store = "memory";             // memory: this process only; etcd: shared by replicas
  std::vector<std::string> etcd_endpoints;  // host:port of each etcd member
  security::TlsConfig etcd_tls;             // client certificate for etcd (its CA verifies etcd)
  std::string prefix = "/prewarm/v1/";
  int64_t leader_lease_ms = 1000;     // a dead leader is replaced within about this
  int64_t replica_lease_ms = 3000;    // replica and heat records
  int64_t request_timeout_ms = 1000;  // any store call
  int64_t claim_timeout_ms = 300;     // the cold path's claim: longer, and it answers origin
  int64_t start_timeout_ms = 30'000;  // wait this long for the store at start
  int64_t node_forget_ms = 600'000;   // instances of a node gone this long are forgotten
  std::string history_log;            // append every answer and transition (JSON lines)
};

struct OrchestratorConfig {
  std::string zone = "edge.example.";
  std::vector<NsConfig> nameservers;
  uint32_t stable_ttl_s = 30;  // READY instances not scaling down
  uint32_t short_ttl_s = 5;    // starting, draining, cold-path and origin answers
  HostPort dns_listen;         // default 127.0.0.1:5353
  int dns_udp_threads = 2;
  // dns.precomputed: answer A/AAAA service queries from the RouteTable (resolver.h); false
  // sends every query down the general path (benchmarks compare the two).
  bool dns_precomputed = true;
  bool dns_tcp = true;
  dns::TcpLimits dns_tcp_limits;         // dns.tcp_*: defaults in dns/server.h
  dns::CookieOptions dns_cookies;        // dns.cookies, dns.cookie_secret_rotate_s
  dns::RrlOptions dns_rrl;               // dns.rrl.*: defaults in dns/rrl.h (on)
  GeoIpConfig dns_geoip;                 // dns.geoip.*: off by default
  HostPort grpc_listen;                  // default 127.0.0.1:7400
  HostPort http_listen;                  // default 127.0.0.1:9400
  std::vector<IpAddr> origin_addresses;  // answered when nothing else can serve
  // The port clients use with those addresses (the services' port). At start one of them
  // must accept a connection there, or an origin answer would point at nothing.
  uint16_t origin_port = 80;
  bool origin_check = true;
  std::map<std::string, std::string> services;    // service label -> template
  std::map<std::string, TemplateInfo> templates;  // template -> tier, service time
  uint32_t max_prefetch_target = 1000;            // larger targets are rejected as absurd
  int64_t event_retention_ms = 3'600'000;         // backlog kept for a reconnecting forecaster
  // Demand: answers counted per second per (sender's /24 or /56, region, template); the
  // rest are answered but not counted (docs/design.md, "Demand"). 0: no cap.
  uint32_t max_events_per_network_per_s = 1000;
  std::vector<RegionConfig> regions;
  std::vector<NetworkConfig> networks;
  std::string default_region;
  // No status for this long -> the node's lease expires and its instances leave DNS.
  int64_t node_timeout_ms = 3'000;
  int64_t failure_backoff_ms = 30'000;  // after a failed start, avoid that node/template
  // The reconciler and the learned keep-alive: the settings table (autoscale/settings.h)
  // read from the top-level keepalive_s and the `autoscaler:` mapping.
  AutoscalerSettings autoscaler;
  ClusterConfig cluster;
  security::TlsConfig tls;  // gRPC server: agents, forecasters, operators
  // Node id -> the instance address range it must register with (optional; with TLS, a
  // range from the agent's certificate or from here is required).
  std::map<std::string, Cidr> node_ranges;
  std::string log_level = "info";

  const RegionConfig* FindRegion(std::string_view name) const;
};

// Parses the `orchestrator:` mapping (or a whole orchestrator config file).
// The config a running orchestrator answers from: the one it started with, with what
// SIGHUP reloads applied (config_reload.h). Callable from any thread.
using LiveConfig = std::function<std::shared_ptr<const OrchestratorConfig>()>;

// `templates`: template definitions given besides the config's template_dir (prewarm up's
// top-level `templates`; common/template_file.h).
absl::StatusOr<OrchestratorConfig> ParseOrchestratorConfig(
    const YamlReader& r, const std::vector<YamlReader>& templates = {});
absl::StatusOr<OrchestratorConfig> LoadOrchestratorConfig(const std::string& path);
// The DNS zone the orchestrator serves for `c` (its SOA serial: the time now).
dns::ZoneConfig MakeZone(const OrchestratorConfig& c);

}  // namespace prewarm::orchestrator
