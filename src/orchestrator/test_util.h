// Shared fixtures for orchestrator tests: a three-region config and an agent link that
// keeps the commands it was sent.
#pragma once

#include <mutex>
#include <vector>

#include "orchestrator/config.h"
#include "orchestrator/state.h"

namespace prewarm::orchestrator::testing {

inline constexpr const char* kThreeRegions = R"(
zone: edge.example.
origin: {addresses: [192.0.2.53]}
services:
  - {name: static, template: static}
  - {name: video}
regions:
  - {name: frankfurt, latitude: 50.11, longitude: 8.68}
  - {name: virginia, latitude: 38.95, longitude: -77.45}
  - {name: singapore, latitude: 1.35, longitude: 103.82}
networks:
  - {cidr: 192.0.2.0/24, region: frankfurt}
  - {cidr: 198.51.100.0/24, region: virginia}
  - {cidr: 203.0.113.0/24, region: singapore}
  - {cidr: 127.0.0.0/8, region: frankfurt}
default_region: frankfurt
)";

inline OrchestratorConfig ThreeRegionConfig() {
  return *ParseOrchestratorConfig(*YamlReader::FromString(kThreeRegions, "test.yaml"));
}

class RecordingLink final : public NodeLink {
 public:
  void Send(const v1::OrchestratorCommand& cmd) override {
    std::lock_guard<std::mutex> l(mu_);
    sent_.push_back(cmd);
  }
  std::vector<v1::OrchestratorCommand> Take() {
    std::lock_guard<std::mutex> l(mu_);
    return std::exchange(sent_, {});
  }

 private:
  std::mutex mu_;
  std::vector<v1::OrchestratorCommand> sent_;
};

inline v1::Register MakeRegister(const std::string& id, const std::string& region, double lat,
                                 double lon, const std::string& range, uint32_t slots = 4) {
  v1::Register r;
  r.set_node_id(id);
  r.mutable_location()->set_region(region);
  r.mutable_location()->set_latitude(lat);
  r.mutable_location()->set_longitude(lon);
  r.set_instance_slots(slots);
  r.set_memory_bytes(1ull << 30);
  r.set_runtime("fake");
  r.add_templates("static");
  r.add_templates("video");
  r.set_address_range(range);
  r.set_instance_port(80);
  return r;
}

}  // namespace prewarm::orchestrator::testing
