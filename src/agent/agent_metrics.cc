// Agent::RenderMetrics: this node's /metrics (see agent.h).
#include "agent/agent.h"
#include "common/metrics.h"
#include "prewarm/v1/state_name.h"

namespace prewarm::agent {

std::string Agent::RenderMetrics() const {
  const MetricLabels node = {{"node", config_.node_id}, {"region", config_.region}};
  auto with = [&node](std::initializer_list<std::pair<std::string, std::string>> more) {
    MetricLabels l = node;
    l.insert(l.end(), more.begin(), more.end());
    return l;
  };
  v1::NodeStatus status;
  size_t queued = 0;
  {
    std::lock_guard<std::mutex> l(mu_);
    status = last_status_;
    queued = queue_.size();
  }
  size_t fetches = 0;
  {
    std::lock_guard<std::mutex> l(fetch_mu_);
    fetches = fetch_queue_.size() + (fetch_busy_ ? 1 : 0);
  }
  MetricsText m;
  m.BuildInfo();
  // Live instances of the last published status, every template and live state listed.
  std::map<std::pair<std::string, v1::InstanceState>, int> live;
  for (const auto& [name, t] : templates_) {
    for (auto st :
         {v1::INSTANCE_STATE_STARTING, v1::INSTANCE_STATE_READY, v1::INSTANCE_STATE_DRAINING}) {
      live[{name, st}] = 0;
    }
  }
  for (const v1::InstanceStatus& i : status.instances()) {
    if (i.state() == v1::INSTANCE_STATE_GONE || i.state() == v1::INSTANCE_STATE_FAILED) continue;
    ++live[{i.template_name(), i.state()}];
  }
  m.Gauge("prewarm_agent_instances", "Instances on this node by template and state.");
  for (const auto& [key, n] : live) {
    m.Add(n, with({{"template", key.first}, {"state", v1::StateName(key.second)}}));
  }
  m.Gauge("prewarm_agent_slots", "Instance slots of this node (capacity.slots).");
  m.Add(config_.slots, node);
  m.Gauge("prewarm_agent_slots_used", "Instance slots in use.");
  m.Add(status.slots_used(), node);
  m.Gauge("prewarm_agent_standby_sockets",
          "Listening sockets bound ahead for cold-path answers (addresses.standby).");
  m.Add(status.standby_addresses_size(), node);
  const RuntimeReserve reserve = runtime_.Reserve();
  m.Gauge("prewarm_agent_standby_vms",
          "VMs started ahead of their instances and waiting for one (runtime.standby_vms).");
  m.Add(reserve.vms, node);
  m.Gauge("prewarm_agent_standby_vms_memory_bytes",
          "Memory (PSS) of the standby VMs: paid while no instance uses it.");
  m.Add(static_cast<double>(reserve.memory_bytes), node);
  m.Gauge("prewarm_agent_queue_depth", "Commands and events waiting for the agent's control loop.");
  m.Add(static_cast<double>(queued), node);
  m.Gauge("prewarm_agent_preload_queue_depth",
          "Warm preload fetch jobs queued or running (at most one per instance).");
  m.Add(static_cast<double>(fetches), node);

  std::lock_guard<std::mutex> l(metrics_mu_);
  m.Counter("prewarm_agent_instance_starts_total", "Instance creates accepted, by template.");
  for (const auto& [t, c] : counters_) m.Add(c.starts, with({{"template", t}}));
  m.Counter("prewarm_agent_instance_stops_total", "Instances destroyed (ended GONE).");
  for (const auto& [t, c] : counters_) m.Add(c.stops, with({{"template", t}}));
  m.Counter("prewarm_agent_instance_failures_total",
            "Instances that FAILED, by kind: start (never ready), crash (exited after ready), "
            "unhealthy (health probe failed after ready).");
  for (const auto& [t, c] : counters_) {
    m.Add(c.failed_start, with({{"template", t}, {"kind", "start"}}));
    m.Add(c.crashed, with({{"template", t}, {"kind", "crash"}}));
    m.Add(c.unhealthy, with({{"template", t}, {"kind", "unhealthy"}}));
  }
  m.Counter("prewarm_agent_creates_rejected_total",
            "Creates refused before starting (unknown template, address not a free standby, "
            "no free slot...).");
  m.Add(rejected_creates_, node);
  m.Counter("prewarm_agent_preload_total",
            "Content ids preloaded from the origin, by result: fetched, missing (the origin "
            "does not have it), no_room (over the template's scratch_bytes, or the scratch was "
            "full, with nothing left to evict), skipped (the origin failed or timed out).");
  for (const auto& [t, c] : counters_) {
    m.Add(c.preload_fetched, with({{"template", t}, {"result", "fetched"}}));
    m.Add(c.preload_missing, with({{"template", t}, {"result", "missing"}}));
    m.Add(c.preload_no_room, with({{"template", t}, {"result", "no_room"}}));
    m.Add(c.preload_skipped, with({{"template", t}, {"result", "skipped"}}));
  }
  m.Counter("prewarm_agent_preload_fetched_bytes_total",
            "Bytes of content preloaded into instances' scratch.");
  for (const auto& [t, c] : counters_) m.Add(c.preload_fetched_bytes, with({{"template", t}}));
  m.Gauge("prewarm_agent_preload_scratch_bytes",
          "Bytes of preloaded content the template's live instances hold in their scratch "
          "(each within the template's scratch_bytes).");
  for (const auto& [t, c] : counters_) m.Add(c.preload_scratch_bytes, with({{"template", t}}));
  m.Counter("prewarm_agent_preload_evictions_total",
            "Preloaded content removed from a running instance to make room for a new "
            "content list (outside it and the template's own list; least hit, oldest first).");
  for (const auto& [t, c] : counters_) m.Add(c.preload_evicted, with({{"template", t}}));
  m.Counter("prewarm_agent_preload_requests_total",
            "Requests the template's instances reported serving (2xx/3xx).");
  for (const auto& [t, c] : counters_) m.Add(c.preload_requests, with({{"template", t}}));
  m.Counter("prewarm_agent_preload_hits_total",
            "Of those, requests for content preloaded into the instance that served it "
            "(hit ratio: hits / requests).");
  for (const auto& [t, c] : counters_) m.Add(c.preload_hits, with({{"template", t}}));
  m.Counter("prewarm_agent_content_reports_total",
            "Content reports from instances' workloads, by result: counted (served, in the "
            "per-content counts), unserved (1xx/4xx/5xx), invalid (malformed or a bad content "
            "id; dropped), overflow (too many distinct ids; dropped).");
  for (const auto& [t, c] : counters_) {
    m.Add(c.reports.counted, with({{"template", t}, {"result", "counted"}}));
    m.Add(c.reports.unserved, with({{"template", t}, {"result", "unserved"}}));
    m.Add(c.reports.invalid, with({{"template", t}, {"result", "invalid"}}));
    m.Add(c.reports.overflow, with({{"template", t}, {"result", "overflow"}}));
  }
  m.Counter("prewarm_agent_relay_connections_total",
            "Connections the agent's relay carried to a workload that listens behind it (own "
            "port, QEMU), by path: kernel (both ways by a BPF sockmap), threads (through the "
            "relay's thread), refused (the workload's port never accepted).");
  for (const auto& [t, c] : counters_) {
    m.Add(c.relay.in_kernel, with({{"template", t}, {"path", "kernel"}}));
    m.Add(c.relay.relayed - c.relay.in_kernel, with({{"template", t}, {"path", "threads"}}));
    m.Add(c.relay.refused, with({{"template", t}, {"path", "refused"}}));
  }
  m.Counter("prewarm_agent_relay_held_back_total",
            "Directions of kernel-relayed connections taken back by the relay's thread because "
            "their receiver fell more than 4 MiB behind.");
  for (const auto& [t, c] : counters_) m.Add(c.relay.held_back, with({{"template", t}}));
  m.Counter("prewarm_agent_port_handoffs_total",
            "Binds of an own-port app's port answered with the instance's listening socket "
            "(runc): the app then accepts its clients itself and nothing relays.");
  for (const auto& [t, c] : counters_) m.Add(c.relay.handed, with({{"template", t}}));
  m.Histogram("prewarm_agent_instance_start_seconds",
              "Instance start time, create to the first readiness probe that passed.");
  for (const auto& [t, c] : counters_) m.Add(c.start_seconds, with({{"template", t}}));
  return m.Render();
}

}  // namespace prewarm::agent
