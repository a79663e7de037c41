#include "orchestrator/config.h"

#include <unistd.h>

#include <algorithm>
#include <ctime>

#include "absl/strings/str_join.h"
#include "common/logging.h"
#include "common/template_file.h"
#include "fmt/format.h"

namespace prewarm::orchestrator {
namespace {

std::string Absolute(std::string name) {
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (name.empty() || name.back() != '.') name.push_back('.');
  return name;
}

absl::StatusOr<HostPort> ReadHostPort(const YamlReader& r, std::string_view key,
                                      std::string fallback) {
  ASSIGN_OR_RETURN(std::string text, r.String(key, fallback));
  auto hp = HostPort::Parse(text);
  if (!hp.ok()) return r.Error(key, std::string(hp.status().message()));
  return *hp;
}

// dns.tcp_*: each defaults to dns::TcpLimits' value.
absl::Status ReadTcpLimits(const YamlReader& d, dns::TcpLimits& l) {
  const std::pair<const char*, int*> fields[] = {{"tcp_idle_timeout_ms", &l.idle_timeout_ms},
                                                 {"tcp_message_timeout_ms", &l.message_timeout_ms},
                                                 {"tcp_max_connections", &l.max_connections},
                                                 {"tcp_max_per_network", &l.max_per_network}};
  for (const auto& [key, field] : fields) {
    ASSIGN_OR_RETURN(int64_t v, d.Int(key, *field, 1, 3'600'000));
    *field = static_cast<int>(v);
  }
  return absl::OkStatus();
}

// dns.cookies, dns.cookie_secret_rotate_s and dns.rrl.*: defaults in dns/cookie.h, dns/rrl.h.
absl::Status ReadCookiesAndRrl(const YamlReader& d, OrchestratorConfig& c) {
  ASSIGN_OR_RETURN(c.dns_cookies.enabled, d.Bool("cookies", c.dns_cookies.enabled));
  ASSIGN_OR_RETURN(int64_t rotate,
                   d.Int("cookie_secret_rotate_s", c.dns_cookies.secret_rotate_s, 60, 86'400));
  c.dns_cookies.secret_rotate_s = static_cast<uint32_t>(rotate);
  ASSIGN_OR_RETURN(auto rrl, d.Map("rrl"));
  if (!rrl) return absl::OkStatus();
  RETURN_IF_ERROR(rrl->CheckKnown({"responses_per_s", "slip", "table_size"}));
  dns::RrlOptions& o = c.dns_rrl;
  // responses_per_s 0: off. slip 0: drop all, 1: slip all, N: every Nth.
  ASSIGN_OR_RETURN(int64_t rate, rrl->Int("responses_per_s", o.responses_per_s, 0, 1'000'000));
  ASSIGN_OR_RETURN(int64_t slip, rrl->Int("slip", o.slip, 0, 100));
  ASSIGN_OR_RETURN(int64_t size, rrl->Int("table_size", o.table_size, 1, 1 << 24));
  o.responses_per_s = static_cast<int>(rate);
  o.slip = static_cast<int>(slip);
  o.table_size = static_cast<int>(size);
  return absl::OkStatus();
}

absl::Status ReadListen(const YamlReader& r, OrchestratorConfig& c) {
  RETURN_IF_ERROR(r.CheckKnown({"zone",
                                "nameservers",
                                "ttl",
                                "dns",
                                "grpc",
                                "http",
                                "origin",
                                "services",
                                "template_dir",
                                "regions",
                                "networks",
                                "default_region",
                                "node_timeout_s",
                                "keepalive_s",
                                "failure_backoff_s",
                                "log_level",
                                "max_prefetch_target",
                                "event_retention_s",
                                "max_events_per_network_per_s",
                                "autoscaler",
                                "cluster",
                                "tls",
                                "nodes"}));
  ASSIGN_OR_RETURN(auto dns, r.Map("dns"));
  YamlReader d = dns ? *dns : *YamlReader::FromString("{}", "<default>");
  RETURN_IF_ERROR(
      d.CheckKnown({"listen", "udp_threads", "tcp", "tcp_idle_timeout_ms", "tcp_message_timeout_ms",
                    "tcp_max_connections", "tcp_max_per_network", "cookies",
                    "cookie_secret_rotate_s", "rrl", "geoip", "precomputed"}));
  ASSIGN_OR_RETURN(c.dns_listen, ReadHostPort(d, "listen", "127.0.0.1:5353"));
  ASSIGN_OR_RETURN(int64_t threads, d.Int("udp_threads", 2, 1, 64));
  c.dns_udp_threads = static_cast<int>(threads);
  ASSIGN_OR_RETURN(c.dns_tcp, d.Bool("tcp", true));
  ASSIGN_OR_RETURN(c.dns_precomputed, d.Bool("precomputed", true));
  RETURN_IF_ERROR(ReadTcpLimits(d, c.dns_tcp_limits));
  RETURN_IF_ERROR(ReadCookiesAndRrl(d, c));
  ASSIGN_OR_RETURN(auto grpc, r.Map("grpc"));
  if (grpc) {
    RETURN_IF_ERROR(grpc->CheckKnown({"listen"}));
    ASSIGN_OR_RETURN(c.grpc_listen, ReadHostPort(*grpc, "listen", "127.0.0.1:7400"));
  } else {
    c.grpc_listen = *HostPort::Parse("127.0.0.1:7400");
  }
  ASSIGN_OR_RETURN(auto http, r.Map("http"));
  if (http) {
    RETURN_IF_ERROR(http->CheckKnown({"listen"}));
    ASSIGN_OR_RETURN(c.http_listen, ReadHostPort(*http, "listen", "127.0.0.1:9400"));
  } else {
    c.http_listen = *HostPort::Parse("127.0.0.1:9400");
  }
  return absl::OkStatus();
}

absl::Status ReadZone(const YamlReader& r, OrchestratorConfig& c) {
  ASSIGN_OR_RETURN(std::string zone, r.String("zone", "edge.example."));
  c.zone = Absolute(zone);
  ASSIGN_OR_RETURN(auto ttl, r.Map("ttl"));
  if (ttl) {
    RETURN_IF_ERROR(ttl->CheckKnown({"stable_s", "short_s"}));
    ASSIGN_OR_RETURN(int64_t stable, ttl->Int("stable_s", 30, 0, 86400));
    ASSIGN_OR_RETURN(int64_t shrt, ttl->Int("short_s", 5, 0, 86400));
    c.stable_ttl_s = static_cast<uint32_t>(stable);
    c.short_ttl_s = static_cast<uint32_t>(shrt);
  }
  ASSIGN_OR_RETURN(auto ns_list, r.MapList("nameservers"));
  for (const YamlReader& ns : ns_list) {
    RETURN_IF_ERROR(ns.CheckKnown({"name", "addresses"}));
    NsConfig n;
    ASSIGN_OR_RETURN(std::string name, ns.String("name"));
    n.name = Absolute(name);
    ASSIGN_OR_RETURN(auto addrs, ns.StringList("addresses", std::vector<std::string>{}));
    for (const auto& a : addrs) {
      auto ip = IpAddr::Parse(a);
      if (!ip.ok()) return ns.Error("addresses", std::string(ip.status().message()));
      n.glue.push_back(*ip);
    }
    c.nameservers.push_back(std::move(n));
  }
  if (c.nameservers.empty()) {
    c.nameservers.push_back({"ns1." + c.zone, {c.dns_listen.addr}});
  }
  return absl::OkStatus();
}

// How the orchestrator serves a template: its serving keys (common/template_file.h).
absl::StatusOr<TemplateInfo> ServingOf(const YamlReader& t) {
  ASSIGN_OR_RETURN(TemplateServing s, ParseTemplateServing(t));
  return TemplateInfo{s.tier, s.service_time_s, s.concurrency, s.keepalive_ms};
}

absl::Status ReadServices(const YamlReader& r, const SharedTemplates& shared,
                          OrchestratorConfig& c) {
  ASSIGN_OR_RETURN(auto origin, r.Map("origin"));
  if (origin) {
    RETURN_IF_ERROR(origin->CheckKnown({"addresses", "port", "check"}));
    ASSIGN_OR_RETURN(int64_t port, origin->Int("port", 80, 1, 65535));
    c.origin_port = static_cast<uint16_t>(port);
    ASSIGN_OR_RETURN(c.origin_check, origin->Bool("check", true));
    ASSIGN_OR_RETURN(auto addrs, origin->StringList("addresses", std::nullopt));
    if (addrs.empty()) {
      return origin->Error("addresses",
                           "is empty: give at least one address; answers fall back to the "
                           "origin when no instance can serve");
    }
    for (const auto& a : addrs) {
      auto ip = IpAddr::Parse(a);
      if (!ip.ok()) return origin->Error("addresses", std::string(ip.status().message()));
      c.origin_addresses.push_back(*ip);
    }
  }
  // Templates defined once for every daemon (common/template_file.h): a service names one,
  // and its settings come from the template's definition.
  std::map<std::string, TemplateInfo> defined;
  for (const YamlReader& d : shared.definitions) {
    ASSIGN_OR_RETURN(defined[*d.String("name")], ServingOf(d));
  }
  ASSIGN_OR_RETURN(auto services, r.MapList("services"));
  for (const YamlReader& s : services) {
    RETURN_IF_ERROR(
        s.CheckKnown({"name", "template", "tier", "service_time_s", "concurrency", "keepalive_s"}));
    ASSIGN_OR_RETURN(std::string name, s.String("name"));
    ASSIGN_OR_RETURN(std::string tmpl, s.String("template", name));
    TemplateInfo info;
    if (auto it = defined.find(tmpl); it != defined.end()) {
      for (std::string_view key : kTemplateServingKeys) {
        if (s.Has(key)) {
          return s.Error(key, fmt::format("template '{}' is defined in {}: set {} there", tmpl,
                                          shared.origin, key));
        }
      }
      info = it->second;
    } else {
      ASSIGN_OR_RETURN(info, ServingOf(s));  // defined inline, on the service
    }
    c.templates[tmpl] = info;
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    if (name.empty() || name.find('.') != std::string::npos || name.size() > 63) {
      return s.Error("name", "must be a single DNS label");
    }
    if (!c.services.emplace(name, tmpl).second) return s.Error("name", "duplicate service");
  }
  return absl::OkStatus();
}

absl::Status ReadLocations(const YamlReader& r, OrchestratorConfig& c) {
  ASSIGN_OR_RETURN(auto regions, r.MapList("regions"));
  for (const YamlReader& g : regions) {
    RETURN_IF_ERROR(g.CheckKnown({"name", "latitude", "longitude"}));
    RegionConfig rc;
    ASSIGN_OR_RETURN(rc.name, g.String("name"));
    ASSIGN_OR_RETURN(rc.point.lat, g.Double("latitude", std::nullopt, -90, 90));
    ASSIGN_OR_RETURN(rc.point.lon, g.Double("longitude", std::nullopt, -180, 180));
    if (c.FindRegion(rc.name) != nullptr) return g.Error("name", "duplicate region");
    c.regions.push_back(std::move(rc));
  }
  ASSIGN_OR_RETURN(auto networks, r.MapList("networks"));
  for (const YamlReader& n : networks) {
    RETURN_IF_ERROR(n.CheckKnown({"cidr", "region", "latitude", "longitude"}));
    NetworkConfig nc;
    ASSIGN_OR_RETURN(std::string cidr, n.String("cidr"));
    auto parsed = Cidr::Parse(cidr);
    if (!parsed.ok()) return n.Error("cidr", std::string(parsed.status().message()));
    nc.cidr = *parsed;
    ASSIGN_OR_RETURN(nc.region, n.String("region"));
    const RegionConfig* region = c.FindRegion(nc.region);
    if (region == nullptr) return n.Error("region", "not declared under regions");
    ASSIGN_OR_RETURN(nc.point.lat, n.Double("latitude", region->point.lat, -90, 90));
    ASSIGN_OR_RETURN(nc.point.lon, n.Double("longitude", region->point.lon, -180, 180));
    c.networks.push_back(std::move(nc));
  }
  ASSIGN_OR_RETURN(c.default_region,
                   r.String("default_region", c.regions.empty() ? "" : c.regions[0].name));
  if (!c.regions.empty() && c.FindRegion(c.default_region) == nullptr) {
    return r.Error("default_region", "not declared under regions");
  }
  return absl::OkStatus();
}

// dns.geoip.*, after `regions:` (the countries name regions).
absl::Status ReadGeoIp(const YamlReader& r, OrchestratorConfig& c) {
  ASSIGN_OR_RETURN(auto dns, r.Map("dns"));
  if (!dns) return absl::OkStatus();
  ASSIGN_OR_RETURN(auto geoip, dns->Map("geoip"));
  if (!geoip) return absl::OkStatus();
  RETURN_IF_ERROR(geoip->CheckKnown({"database", "countries", "reload_check_s"}));
  GeoIpConfig& g = c.dns_geoip;
  ASSIGN_OR_RETURN(g.database, geoip->String("database"));
  if (g.database.empty()) return geoip->Error("database", "is empty: give the .mmdb file's path");
  ASSIGN_OR_RETURN(double check_s, geoip->Double("reload_check_s", 5, 0, 3600));
  g.reload_check_ms = static_cast<int64_t>(check_s * 1000);
  ASSIGN_OR_RETURN(auto countries, geoip->Map("countries"));
  if (!countries) return absl::OkStatus();
  ASSIGN_OR_RETURN(auto table, geoip->StringMap("countries"));
  for (const auto& [code, region] : table) {
    if (code.size() != 2 || !std::isalpha(static_cast<unsigned char>(code[0])) ||
        !std::isalpha(static_cast<unsigned char>(code[1]))) {
      return countries->Error(code, "is not an ISO 3166-1 alpha-2 country code (e.g. DE)");
    }
    if (c.FindRegion(region) == nullptr) {
      return countries->Error(code,
                              fmt::format("region '{}' is not declared under regions", region));
    }
    std::string upper = code;
    for (char& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    if (!g.countries.emplace(upper, region).second) {
      return countries->Error(code, "duplicate country (codes are case-insensitive)");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> Millis(const YamlReader& r, std::string_view key, double fallback_s,
                               double min_s, double max_s) {
  ASSIGN_OR_RETURN(double s, r.Double(key, fallback_s, min_s, max_s));
  return static_cast<int64_t>(s * 1000);
}

absl::Status ReadStore(const YamlReader& s, ClusterConfig& cc) {
  RETURN_IF_ERROR(s.CheckKnown({"kind", "endpoints", "prefix", "tls", "request_timeout_s",
                                "claim_timeout_s", "start_timeout_s"}));
  ASSIGN_OR_RETURN(cc.store, s.String("kind", "memory"));
  if (cc.store != "memory" && cc.store != "etcd") return s.Error("kind", "must be memory or etcd");
  ASSIGN_OR_RETURN(cc.etcd_endpoints, s.StringList("endpoints", std::vector<std::string>{}));
  for (const auto& e : cc.etcd_endpoints) {
    if (!HostPort::Parse(e).ok())
      return s.Error("endpoints", fmt::format("'{}' is not host:port", e));
  }
  if (cc.store == "etcd" && cc.etcd_endpoints.empty()) {
    return s.Error("endpoints", "an etcd store needs at least one endpoint");
  }
  ASSIGN_OR_RETURN(cc.prefix, s.String("prefix", "/prewarm/v1/"));
  if (cc.prefix.empty() || cc.prefix.front() != '/') return s.Error("prefix", "must start with /");
  ASSIGN_OR_RETURN(cc.etcd_tls, security::ParseTlsConfig(s));
  ASSIGN_OR_RETURN(cc.request_timeout_ms, Millis(s, "request_timeout_s", 1, 0.05, 60));
  ASSIGN_OR_RETURN(cc.claim_timeout_ms, Millis(s, "claim_timeout_s", 0.3, 0.01, 10));
  ASSIGN_OR_RETURN(cc.start_timeout_ms, Millis(s, "start_timeout_s", 30, 0, 3600));
  return absl::OkStatus();
}

absl::Status ReadCluster(const YamlReader& r, OrchestratorConfig& c) {
  ASSIGN_OR_RETURN(auto cluster, r.Map("cluster"));
  ClusterConfig& cc = c.cluster;
  if (cluster) {
    const YamlReader& k = *cluster;
    RETURN_IF_ERROR(k.CheckKnown({"replica_id", "store", "leader_lease_s", "replica_lease_s",
                                  "node_forget_s", "history_log"}));
    ASSIGN_OR_RETURN(cc.replica_id, k.String("replica_id", ""));
    ASSIGN_OR_RETURN(auto store, k.Map("store"));
    if (store) RETURN_IF_ERROR(ReadStore(*store, cc));
    ASSIGN_OR_RETURN(cc.leader_lease_ms, Millis(k, "leader_lease_s", 1, 0.5, 60));
    ASSIGN_OR_RETURN(cc.replica_lease_ms, Millis(k, "replica_lease_s", 3, 1, 600));
    ASSIGN_OR_RETURN(cc.node_forget_ms, Millis(k, "node_forget_s", 600, 1, 30 * 86400));
    ASSIGN_OR_RETURN(cc.history_log, k.String("history_log", ""));
  }
  if (cc.replica_id.empty()) {
    char host[256] = {};
    gethostname(host, sizeof(host) - 1);
    cc.replica_id = fmt::format("{}-{}", host, c.grpc_listen.port);
  }
  ASSIGN_OR_RETURN(c.tls, security::ParseTlsConfig(r));
  ASSIGN_OR_RETURN(auto nodes, r.MapList("nodes"));
  for (const YamlReader& n : nodes) {
    RETURN_IF_ERROR(n.CheckKnown({"id", "range"}));
    ASSIGN_OR_RETURN(std::string id, n.String("id"));
    ASSIGN_OR_RETURN(std::string range, n.String("range"));
    auto cidr = Cidr::Parse(range);
    if (!cidr.ok()) return n.Error("range", std::string(cidr.status().message()));
    if (!c.node_ranges.emplace(id, *cidr).second) return n.Error("id", "duplicate node");
  }
  return absl::OkStatus();
}

}  // namespace

const RegionConfig* OrchestratorConfig::FindRegion(std::string_view name) const {
  for (const auto& r : regions) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

// The settings table (autoscale/settings.h): `keepalive_s` at the top level, the rest in
// `autoscaler:`, whose `policy` picks the preset the others override.
absl::Status ReadAutoscaler(const YamlReader& r, OrchestratorConfig& c) {
  ASSIGN_OR_RETURN(auto section, r.Map("autoscaler"));
  std::map<std::string, std::string> values;
  if (section) {
    auto nested = section->Map("learned_keepalive");
    if (nested.ok() && nested->has_value()) {
      return section->Error("learned_keepalive",
                            "is true or false; its settings (cold_start_cost_s, ...) sit in "
                            "autoscaler: itself");
    }
    ASSIGN_OR_RETURN(values, r.StringMap("autoscaler"));
  }
  AutoscalerSettings& a = c.autoscaler;
  if (auto p = values.find("policy"); p != values.end()) {
    auto preset = PolicySettings(p->second);
    if (!preset.ok()) return section->Error("policy", std::string(preset.status().message()));
    a = *preset;
    values.erase(p);
  }
  if (r.Has("keepalive_s")) {
    ASSIGN_OR_RETURN(std::string v, r.String("keepalive_s"));
    if (auto st = ApplySetting(a, "keepalive_s", v); !st.ok())
      return r.Error("keepalive_s", std::string(st.message()));
  }
  if (values.contains("keepalive_s")) {
    return section->Error("keepalive_s", "belongs at the top level of the config");
  }
  for (const Setting& t : SettingsTable()) {
    auto v = values.find(t.name);
    if (v == values.end()) continue;
    if (auto st = ApplySetting(a, t.name, v->second); !st.ok())
      return section->Error(t.name, std::string(st.message()));
    values.erase(v);
  }
  if (!values.empty()) {
    std::vector<std::string> names = {"policy"};
    for (const Setting& t : SettingsTable())
      if (t.name != "keepalive_s") names.push_back(t.name);
    return section->Error(
        values.begin()->first,
        fmt::format("unknown autoscaler setting (settings: {})", absl::StrJoin(names, ", ")));
  }
  if (auto st = ValidateSettings(a); !st.ok())
    return r.Error("autoscaler", std::string(st.message()));
  return absl::OkStatus();
}

absl::StatusOr<OrchestratorConfig> ParseOrchestratorConfig(
    const YamlReader& r, const std::vector<YamlReader>& templates) {
  OrchestratorConfig c;
  RETURN_IF_ERROR(ReadListen(r, c));
  RETURN_IF_ERROR(ReadZone(r, c));
  ASSIGN_OR_RETURN(SharedTemplates shared, ReadSharedTemplates(r, templates));
  RETURN_IF_ERROR(ReadServices(r, shared, c));
  RETURN_IF_ERROR(ReadLocations(r, c));
  RETURN_IF_ERROR(ReadGeoIp(r, c));
  ASSIGN_OR_RETURN(c.node_timeout_ms, Millis(r, "node_timeout_s", 3, 1, 3600));
  RETURN_IF_ERROR(ReadCluster(r, c));
  ASSIGN_OR_RETURN(int64_t backoff_s, r.Int("failure_backoff_s", 30, 0, 3600));
  c.failure_backoff_ms = backoff_s * 1000;
  RETURN_IF_ERROR(ReadAutoscaler(r, c));
  ASSIGN_OR_RETURN(c.log_level, r.Choice("log_level", "info", kLogLevels));
  ASSIGN_OR_RETURN(int64_t max_target, r.Int("max_prefetch_target", 1000, 1, 1'000'000));
  c.max_prefetch_target = static_cast<uint32_t>(max_target);
  ASSIGN_OR_RETURN(int64_t retention_s, r.Int("event_retention_s", 3600, 0, 7 * 86400));
  c.event_retention_ms = retention_s * 1000;
  ASSIGN_OR_RETURN(int64_t per_network,
                   r.Int("max_events_per_network_per_s", 1000, 0, 1'000'000'000));
  c.max_events_per_network_per_s = static_cast<uint32_t>(per_network);
  return c;
}

dns::ZoneConfig MakeZone(const OrchestratorConfig& c) {
  dns::ZoneConfig z;
  z.origin = c.zone;
  z.soa.mname = c.nameservers.front().name;
  z.soa.rname = "hostmaster." + c.zone;
  z.soa.minimum = c.short_ttl_s;
  z.soa.serial = static_cast<uint32_t>(std::time(nullptr));
  for (const auto& ns : c.nameservers) z.ns.push_back(dns::NsRecord{ns.name, ns.glue});
  z.cookies = c.dns_cookies;
  z.rrl = c.dns_rrl;
  z.precomputed = c.dns_precomputed;
  return z;
}

absl::StatusOr<OrchestratorConfig> LoadOrchestratorConfig(const std::string& path) {
  ASSIGN_OR_RETURN(YamlReader r, YamlReader::FromFile(path));
  return ParseOrchestratorConfig(r);
}

}  // namespace prewarm::orchestrator
