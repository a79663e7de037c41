#include "orchestrator/config.h"

#include <gtest/gtest.h>

#include "orchestrator/test_util.h"

namespace prewarm::orchestrator {
namespace {

absl::StatusOr<OrchestratorConfig> Parse(const std::string& text) {
  auto r = YamlReader::FromString(text, "o.yaml");
  if (!r.ok()) return r.status();
  return ParseOrchestratorConfig(*r);
}

TEST(OrchestratorConfigTest, DefaultsMatchTheDocumentedOnes) {
  auto c = Parse("{}");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->zone, "edge.example.");
  EXPECT_EQ(c->dns_listen.ToString(), "127.0.0.1:5353");
  EXPECT_EQ(c->stable_ttl_s, 30u);
  EXPECT_EQ(c->short_ttl_s, 5u);
  ASSERT_EQ(c->nameservers.size(), 1u);
  EXPECT_EQ(c->nameservers[0].name, "ns1.edge.example.");
}

TEST(OrchestratorConfigTest, DnsTcpLimitsDefaultToTheServersAndCanBeSet) {
  auto c = Parse("{}");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->dns_tcp_limits.idle_timeout_ms, dns::TcpLimits{}.idle_timeout_ms);
  EXPECT_EQ(c->dns_tcp_limits.max_per_network, dns::TcpLimits{}.max_per_network);
  auto set = Parse(
      "dns: {tcp_idle_timeout_ms: 5000, tcp_message_timeout_ms: 300, tcp_max_connections: 64,"
      " tcp_max_per_network: 4}\n");
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->dns_tcp_limits.idle_timeout_ms, 5000);
  EXPECT_EQ(set->dns_tcp_limits.message_timeout_ms, 300);
  EXPECT_EQ(set->dns_tcp_limits.max_connections, 64);
  EXPECT_EQ(set->dns_tcp_limits.max_per_network, 4);
  EXPECT_FALSE(Parse("dns: {tcp_max_per_network: 0}\n").ok());
}

TEST(OrchestratorConfigTest, CookiesAndRateLimitingAreOnByDefaultAndCanBeSet) {
  auto c = Parse("{}");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->dns_cookies.enabled);
  EXPECT_EQ(c->dns_cookies.secret_rotate_s, 3600u);
  EXPECT_EQ(c->dns_rrl.responses_per_s, 100);
  EXPECT_EQ(c->dns_rrl.slip, 2);
  EXPECT_EQ(c->dns_rrl.table_size, 65536);
  auto set = Parse(
      "dns: {cookies: false, cookie_secret_rotate_s: 600,"
      " rrl: {responses_per_s: 20, slip: 1, table_size: 1000}}\n");
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_FALSE(set->dns_cookies.enabled);
  EXPECT_EQ(set->dns_cookies.secret_rotate_s, 600u);
  EXPECT_EQ(set->dns_rrl.responses_per_s, 20);
  EXPECT_EQ(set->dns_rrl.slip, 1);
  EXPECT_EQ(set->dns_rrl.table_size, 1000);
  auto off = Parse("dns: {rrl: {responses_per_s: 0}}\n");
  ASSERT_TRUE(off.ok()) << off.status();
  EXPECT_EQ(off->dns_rrl.responses_per_s, 0);
  EXPECT_EQ(off->dns_rrl.slip, 2);  // the others keep their defaults
}

TEST(OrchestratorConfigTest, CookieAndRateLimitErrorsNameTheField) {
  auto expect_error = [](const std::string& yaml, const std::string& field) {
    auto c = Parse(yaml);
    ASSERT_FALSE(c.ok()) << yaml;
    EXPECT_NE(std::string(c.status().message()).find(field), std::string::npos) << c.status();
  };
  expect_error("dns: {cookie_secret_rotate_s: 10}\n", "dns.cookie_secret_rotate_s");
  expect_error("dns: {cookies: maybe}\n", "dns.cookies");
  expect_error("dns: {rrl: {responses_per_s: -1}}\n", "dns.rrl.responses_per_s");
  expect_error("dns: {rrl: {slip: 101}}\n", "dns.rrl.slip");
  expect_error("dns: {rrl: {table_size: 0}}\n", "dns.rrl.table_size");
  expect_error("dns: {rrl: {rate: 5}}\n", "rate");
}

TEST(OrchestratorConfigTest, GeoIpIsOffByDefaultAndMapsCountriesToDeclaredRegions) {
  auto c = Parse("{}");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->dns_geoip.enabled());
  EXPECT_EQ(c->dns_geoip.reload_check_ms, 5000);
  auto set = Parse(std::string(testing::kThreeRegions) +
                   "dns:\n"
                   "  geoip:\n"
                   "    database: /var/lib/prewarm/city.mmdb\n"
                   "    reload_check_s: 0.5\n"
                   "    countries: {de: frankfurt, SG: singapore}\n");
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_TRUE(set->dns_geoip.enabled());
  EXPECT_EQ(set->dns_geoip.database, "/var/lib/prewarm/city.mmdb");
  EXPECT_EQ(set->dns_geoip.reload_check_ms, 500);
  const std::map<std::string, std::string> want = {{"DE", "frankfurt"}, {"SG", "singapore"}};
  EXPECT_EQ(set->dns_geoip.countries, want);
}

TEST(OrchestratorConfigTest, GeoIpErrorsNameTheFieldAndLine) {
  const std::string regions = "regions: [{name: fra, latitude: 50, longitude: 8}]\n";
  auto expect_error = [&](const std::string& dns, const std::string& message) {
    auto c = Parse(regions + dns);
    ASSERT_FALSE(c.ok()) << dns;
    EXPECT_EQ(c.status().message(), message);
  };
  expect_error("dns:\n  geoip: {countries: {DE: fra}}\n",
               "o.yaml:3: dns.geoip.database: is required");
  expect_error("dns:\n  geoip:\n    database: ''\n",
               "o.yaml:4: dns.geoip.database: is empty: give the .mmdb file's path");
  expect_error("dns:\n  geoip:\n    database: a.mmdb\n    countries:\n      DE: sin\n",
               "o.yaml:6: dns.geoip.countries.DE: region 'sin' is not declared under regions");
  expect_error("dns:\n  geoip:\n    database: a.mmdb\n    countries:\n      DEU: fra\n",
               "o.yaml:6: dns.geoip.countries.DEU: is not an ISO 3166-1 alpha-2 country code "
               "(e.g. DE)");
  expect_error("dns:\n  geoip:\n    database: a.mmdb\n    countries: {de: fra, DE: fra}\n",
               "o.yaml:5: dns.geoip.countries.de: duplicate country (codes are "
               "case-insensitive)");
  expect_error("dns:\n  geoip:\n    database: a.mmdb\n    reload_check_s: -1\n",
               "o.yaml:5: dns.geoip.reload_check_s: -1 is out of range [0, 3600]");
  expect_error("dns:\n  geoip:\n    database: a.mmdb\n    path: b\n",
               "o.yaml:5: dns.geoip.path: unknown field");
}

TEST(OrchestratorConfigTest, DemandPerNetworkIsCappedByDefaultAndCanBeUncapped) {
  auto c = Parse("{}");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->max_events_per_network_per_s, 1000u);
  auto off = Parse("max_events_per_network_per_s: 0\n");
  ASSERT_TRUE(off.ok()) << off.status();
  EXPECT_EQ(off->max_events_per_network_per_s, 0u);
  EXPECT_FALSE(Parse("max_events_per_network_per_s: -1\n").ok());
}

TEST(OrchestratorConfigTest, ParsesRegionsNetworksAndServices) {
  auto c = Parse(testing::kThreeRegions);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->regions.size(), 3u);
  EXPECT_EQ(c->networks.size(), 4u);
  EXPECT_EQ(c->networks[2].region, "singapore");
  EXPECT_NEAR(c->networks[2].point.lat, 1.35, 1e-9);
  EXPECT_EQ(c->services.at("video"), "video");
  EXPECT_EQ(c->origin_addresses.at(0).ToString(), "192.0.2.53");
}

TEST(OrchestratorConfigTest, BadFieldsAreNamedWithTheirLine) {
  auto bad_region = Parse(
      "regions:\n  - {name: a, latitude: 1, longitude: 2}\n"
      "networks:\n  - {cidr: 10.0.0.0/8, region: b}\n");
  ASSERT_FALSE(bad_region.ok());
  EXPECT_EQ(bad_region.status().message(),
            "o.yaml:4: networks[0].region: not declared under regions");
  auto bad_cidr = Parse(
      "regions: [{name: a, latitude: 1, longitude: 2}]\n"
      "networks: [{cidr: 10.0.0.0/40, region: a}]\n");
  ASSERT_FALSE(bad_cidr.ok());
  EXPECT_NE(bad_cidr.status().message().find("networks[0].cidr"), std::string::npos);
  auto typo = Parse("dns: {listn: 127.0.0.1:53}\n");
  ASSERT_FALSE(typo.ok());
  EXPECT_EQ(typo.status().message(), "o.yaml:1: dns.listn: unknown field");
  auto lat = Parse("regions: [{name: a, latitude: 91, longitude: 2}]\n");
  ASSERT_FALSE(lat.ok());
  EXPECT_NE(lat.status().message().find("regions[0].latitude"), std::string::npos);
  EXPECT_FALSE(Parse("services: [{name: a.b}]\n").ok());
}

// spdlog reads a level it does not know as "off": the orchestrator used to run silent.
TEST(OrchestratorConfigTest, AnUnknownLogLevelIsAConfigErrorWithItsLine) {
  auto level = Parse("zone: a.\nlog_level: verbose\n");
  ASSERT_FALSE(level.ok());
  EXPECT_EQ(level.status().message(),
            "o.yaml:2: log_level: 'verbose' is not one of trace, debug, info, warn, warning, "
            "error, err, critical, off");
  EXPECT_EQ(Parse("log_level: debug\n")->log_level, "debug");
  EXPECT_EQ(Parse("{}")->log_level, "info");
}

// Each of these once started the orchestrator on something other than what was written.
TEST(OrchestratorConfigTest, HostileValuesAreConfigErrorsWithTheirLine) {
  auto dup = Parse("log_level: info\nzone: a.\nlog_level: debug\n");
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.status().message(), "o.yaml:3: log_level: duplicate key (first given at line 1)");

  auto nan = Parse("zone: a.\nautoscaler:\n  target_utilisation: .nan\n");
  ASSERT_FALSE(nan.ok());
  EXPECT_NE(nan.status().message().find("o.yaml:3: autoscaler.target_utilisation:"),
            std::string::npos)
      << nan.status();
  auto nan_lat = Parse("regions: [{name: a, latitude: .nan, longitude: 2}]\n");
  ASSERT_FALSE(nan_lat.ok());
  EXPECT_EQ(nan_lat.status().message(),
            "o.yaml:1: regions[0].latitude: '.nan' is not a finite number");

  auto no_origin = Parse("zone: a.\norigin:\n  addresses: []\n");
  ASSERT_FALSE(no_origin.ok());
  EXPECT_NE(no_origin.status().message().find("o.yaml:3: origin.addresses: is empty"),
            std::string::npos)
      << no_origin.status();
}

}  // namespace
}  // namespace prewarm::orchestrator

namespace prewarm::orchestrator {
namespace {

TEST(OrchestratorConfigTest, ParsesTheAutoscalerAndItsLearnedKeepAlive) {
  auto c = Parse(
      "keepalive_s: 5m\n"
      "autoscaler:\n"
      "  reactive: false\n"
      "  stable_window_s: 30\n"
      "  panic_window_s: 3\n"
      "  learned_keepalive: true\n"
      "  cold_start_cost_s: 600\n"
      "  weight: key\n"
      "  range_s: 7200\n"
      "  prior: 2\n"
      "  surplus_levels: 3\n"
      "  surplus_cold_start_cost_s: 90\n"
      "  timers: false\n"
      "  keep_first_min_samples: 100\n"
      "  bursts: false\n"
      "  burst_window_s: 30\n"
      "  burst_min_share: 0.25\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->autoscaler.keepalive_ms, 300'000);
  EXPECT_FALSE(c->autoscaler.reactive);
  EXPECT_EQ(c->autoscaler.stable_window_ms, 30'000);
  EXPECT_EQ(c->autoscaler.panic_window_ms, 3'000);
  EXPECT_TRUE(c->autoscaler.learned_keepalive);
  EXPECT_EQ(c->autoscaler.learned.cold_s, 600);
  EXPECT_EQ(c->autoscaler.learned.weight, "key");
  EXPECT_EQ(c->autoscaler.learned.learner.range_ms, 7'200'000);
  EXPECT_EQ(c->autoscaler.learned.learner.prior_weight, 2);
  EXPECT_EQ(c->autoscaler.learned.surplus_levels, 3u);
  EXPECT_EQ(c->autoscaler.learned.surplus_cold_s, 90);
  EXPECT_FALSE(c->autoscaler.learned.timers);
  EXPECT_EQ(c->autoscaler.learned.learner.keep_first_min_samples, 100u);
  EXPECT_FALSE(c->autoscaler.learned.bursts);
  EXPECT_EQ(c->autoscaler.learned.burst_window_ms, 30'000);
  EXPECT_EQ(c->autoscaler.learned.burst_min_share, 0.25);
  EXPECT_FALSE(Parse("autoscaler:\n  burst_min_share: 2\n").ok());
  EXPECT_FALSE(Parse("autoscaler:\n  burst_window_s: 0\n").ok());
  // A surplus instance's cold start costs what the first's does unless told otherwise.
  EXPECT_EQ(Parse("autoscaler:\n  cold_start_cost_s: 600\n")->autoscaler.learned.surplus_cold_s,
            600);
  auto objective = Parse("autoscaler:\n  surplus_per_day: 50\n  cold_start_objective: 0.02\n");
  ASSERT_TRUE(objective.ok()) << objective.status();
  EXPECT_EQ(objective->autoscaler.learned.surplus_per_day, 50);
  EXPECT_EQ(objective->autoscaler.learned.cold_start_objective, 0.02);
  EXPECT_FALSE(Parse("autoscaler:\n  cold_start_objective: 1.5\n").ok());
  EXPECT_EQ(Parse("{}")->autoscaler.learned.learner.keep_first_min_samples, 30u);
  EXPECT_FALSE(Parse("autoscaler:\n  keep_first_min_samples: -1\n").ok());
  EXPECT_FALSE(Parse("autoscaler:\n  surplus_levels: 65\n").ok());
  EXPECT_FALSE(Parse("{}")->autoscaler.learned_keepalive);
  auto bad = Parse("autoscaler:\n  weight: everyone\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(std::string(bad.status().message()).find("weight"), std::string::npos);
  // The nested form of earlier versions says where its settings went.
  auto nested = Parse("autoscaler:\n  learned_keepalive: {cold_start_cost_s: 600}\n");
  ASSERT_FALSE(nested.ok());
  EXPECT_NE(std::string(nested.status().message()).find("sit in autoscaler"), std::string::npos);
  auto unknown = Parse("autoscaler:\n  cold: 600\n");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(std::string(unknown.status().message()).find("cold_start_cost_s"), std::string::npos);
  EXPECT_FALSE(Parse("autoscaler:\n  keepalive_s: 60\n").ok()) << "keepalive_s is top-level";
}

TEST(OrchestratorConfigTest, APolicyIsThePresetTheSimulatorRunsAndSettingsOverrideIt) {
  for (const std::string& name : PolicyNames()) {
    auto c = Parse("autoscaler:\n  policy: " + name + "\n");
    ASSERT_TRUE(c.ok()) << c.status();
    auto preset = PolicySettings(name);
    for (const Setting& s : SettingsTable()) {
      EXPECT_EQ(s.get(c->autoscaler), s.get(*preset)) << name << " " << s.name;
    }
  }
  auto kpa = Parse("keepalive_s: 90\nautoscaler:\n  policy: reactive-kpa\n  stable_window_s: 30\n");
  ASSERT_TRUE(kpa.ok()) << kpa.status();
  EXPECT_FALSE(kpa->autoscaler.proactive);
  EXPECT_EQ(kpa->autoscaler.keepalive_ms, 90'000);
  EXPECT_EQ(kpa->autoscaler.stable_window_ms, 30'000);
  EXPECT_FALSE(Parse("autoscaler:\n  policy: hopeful\n").ok());
}

TEST(OrchestratorConfigTest, EverySettingOfTheTableIsReadFromYamlByItsName) {
  // Each row, set in YAML to a value other than its default, reads as the table parses it.
  for (const Setting& s : SettingsTable()) {
    AutoscalerSettings want;
    std::string value;
    for (std::string v : {"true", "false", "0.5", "1", "2", "90", "key", "off", "65",
                          "hybrid-histogram", "snaive"}) {
      AutoscalerSettings t;
      if (ApplySetting(t, s.name, v).ok() && s.get(t) != s.get(AutoscalerSettings{}) &&
          ValidateSettings(t).ok()) {
        value = v;
        want = t;
        break;
      }
    }
    ASSERT_FALSE(value.empty()) << s.name;
    std::string yaml = s.name == "keepalive_s" ? "keepalive_s: " + value + "\n"
                                               : "autoscaler:\n  " + s.name + ": " + value + "\n";
    auto c = Parse(yaml);
    ASSERT_TRUE(c.ok()) << s.name << ": " << c.status();
    EXPECT_EQ(s.get(c->autoscaler), s.get(want)) << s.name;
  }
  EXPECT_FALSE(Parse("autoscaler: {panic_window_s: 90, stable_window_s: 60}\n").ok());
  EXPECT_FALSE(Parse("autoscaler: {stable_windw_s: 60}\n").ok());
}

}  // namespace
}  // namespace prewarm::orchestrator
