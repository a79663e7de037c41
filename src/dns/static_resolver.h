// A fixed, in-memory ServiceResolver: service name -> answer. Immutable after
// construction, hence thread-safe. Used by tests, the fuzzer and as an origin-only
// fallback; the orchestrator's resolver reads its routing snapshot instead.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "dns/zone.h"

namespace prewarm::dns {

class StaticResolver final : public ServiceResolver {
 public:
  // Keys are lowercase service labels ("static").
  explicit StaticResolver(std::map<std::string, ServiceAnswer, std::less<>> services)
      : services_(std::move(services)) {}

  std::optional<ServiceAnswer> Resolve(std::string_view service, uint16_t /*qtype*/,
                                       const ClientInfo& /*client*/) override {
    auto it = services_.find(service);
    if (it == services_.end()) {
      return std::nullopt;
    }
    return it->second;
  }

 private:
  const std::map<std::string, ServiceAnswer, std::less<>> services_;
};

}  // namespace prewarm::dns
