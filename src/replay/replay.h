// `prewarm replay`: drives a running prewarm (one process or a cluster) with a real trace,
// as its clients would, and records what they see.
//
// For each arrival of the workload (sim::ArrivalStream: the same seeded arrivals that
// `prewarm sim` simulates), at its time on the workload's clock, which sim::Compress has
// made trace time / speed (`--speed`, the flag `prewarm sim` shares): a DNS query for
// `<template>.<zone>` A with the ECS option of the key's region, then an HTTP GET to the
// first answered address on the instances' port. Per request it records the DNS time, the
// connect time, the time to first byte, the whole time, and whether the request waited for
// an instance to start (the workload's X-Prewarm-Queued-Ms, workload/queue_wait.h): a cold
// start as the client saw it. Loopback only: the DNS server and every answered address
// must be in 127.0.0.0/8, or the request is an error and nothing is sent.
//
// Memory: when `metrics_url` is given, the orchestrator's /metrics is scraped every
// `scrape_s` wall seconds and its per-template instance counts (from the agents' reports)
// are integrated, each instance at its key's memory_mb, into MB·h of trace time (wall time
// x the workload's speed).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/net.h"
#include "replay/dns_client.h"
#include "sim/sim.h"
#include "sim/workload.h"

namespace prewarm::replay {

struct Progress {
  uint64_t sent = 0, done = 0, total = 0, cold = 0, errors = 0;
  double wall_s = 0, trace_s = 0;
};

struct ReplayOptions {
  HostPort dns;  // the orchestrator's DNS, on loopback
  std::string zone = "edge.example.";
  uint16_t http_port = 8080;  // the agents' addresses.port
  std::string path = "/";
  std::map<std::string, Cidr> ecs;  // region -> the client subnet its queries carry
  uint64_t max_requests = 100'000;  // stop after this many (bounded load)
  double max_seconds = 3600;        // ... or this much wall time
  int workers = 64;                 // requests in flight at most
  DnsQueryOptions dns_query;
  int http_timeout_ms = 10'000;
  uint64_t seed = 1;        // the arrival stream's (as `prewarm sim --seed`)
  std::string metrics_url;  // http://127.x.y.z:PORT/metrics, or empty
  double scrape_s = 1;
  // Trace seconds from the start that are replayed but not measured (as `prewarm sim
  // --warmup`): their requests are sent and kept, and count only in `warmup_*`; memory is
  // integrated from the end of the warm-up.
  double warmup_s = 0;
  std::function<void(const Progress&)> on_progress;  // called about once a second
};

struct RequestRecord {
  uint32_t key = 0;
  double trace_s = 0;  // the arrival's trace time since the slice's start
  double late_ms = 0;  // how late it was sent (the client's own lag)
  double dns_ms = -1, connect_ms = -1, ttfb_ms = -1, total_ms = -1;
  int64_t queued_ms = -1;  // X-Prewarm-Queued-Ms; -1 when absent
  bool cold = false;       // queued_ms > 0
  int http_status = 0;
  std::string address;
  std::string error;  // empty when the request got an HTTP response
};

struct ReplayResult {
  std::vector<RequestRecord> requests;  // in arrival order
  std::vector<sim::KeyStats> keys;      // per workload key: arrivals, cold (answered only)
  // Measured requests (after the warm-up) only; the warm-up's apart.
  uint64_t sent = 0, answered = 0, cold = 0, errors = 0, unmarked = 0;
  uint64_t warmup_sent = 0, warmup_errors = 0;
  std::map<std::string, uint64_t> error_kinds;  // "dns", "connect", "http", "not loopback"..
  double cold_rate = 0, cold_rate_p75 = 0;      // of answered requests; p75 across keys
  std::map<std::string, double> dns_ms, connect_ms, ttfb_ms, total_ms;  // "p50".."p999"
  double loaded_mb_h = -1;  // instance memory over trace time; -1 without metrics_url
  uint64_t scrapes = 0, scrape_errors = 0;
  double wall_s = 0, trace_s = 0;
  bool stopped_early = false;  // max_requests or max_seconds cut it
};

// Errors before any request: a bad option, a non-loopback target, a region without ECS.
// `w` runs on its own clock: compress it (sim::Compress) for a replay faster than the trace.
absl::StatusOr<ReplayResult> Replay(const sim::Workload& w, const ReplayOptions& o);

// The result as JSON (one object: options, summary, per-key and per-request arrays).
std::string ToJson(const sim::Workload& w, const ReplayOptions& o, const ReplayResult& r);
// Time to first byte over the run: every request as a dot (cold ones red), log scale.
std::string ToSvg(const ReplayResult& r);

// `prewarm_template_instances{template="T",state="S"} N` lines of a /metrics text: T -> sum
// of N over the states that hold memory (reserved, starting, ready, draining).
std::map<std::string, double> InstancesByTemplate(const std::string& metrics_text);

}  // namespace prewarm::replay
