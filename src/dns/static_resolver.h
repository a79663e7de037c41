// A fixed, in-memory ServiceResolver: service name -> answer. Immutable after
// construction, hence thread-safe. Used by tests, the fuzzer and as an origin-only
// fallback; the orchestrator's resolver reads its routing snapshot instead.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dns/zone.h"

namespace prewarm::dns {

class StaticResolver final : public ServiceResolver {
 public:
  // Keys are lowercase service labels ("static").
  explicit StaticResolver(std::map<std::string, ServiceAnswer, std::less<>> services)
      : services_(std::move(services)) {
    for (const auto& [name, answer] : services_) {
      Encoded& e = encoded_[name];
      e.a_count = EncodeAddressRecords(rrtype::kA, answer.ttl, answer.addresses, e.a);
      e.aaaa_count = EncodeAddressRecords(rrtype::kAAAA, answer.ttl, answer.addresses, e.aaaa);
      e.scope = answer.ecs_scope_prefix;
    }
  }

  std::optional<ServiceAnswer> Resolve(std::string_view service, uint16_t /*qtype*/,
                                       const ClientInfo& /*client*/) override {
    auto it = services_.find(service);
    if (it == services_.end()) {
      return std::nullopt;
    }
    return it->second;
  }

  // The same answers, encoded once at construction.
  bool ResolveWire(std::string_view service, uint16_t qtype, const ClientInfo& /*client*/,
                   WireAnswer& out) override {
    auto it = encoded_.find(service);
    if (it == encoded_.end()) {
      return false;
    }
    const Encoded& e = it->second;
    const bool a = qtype == rrtype::kA;
    out = WireAnswer{a ? e.a : e.aaaa, a ? e.a_count : e.aaaa_count, e.scope};
    return out.count > 0 && (a || qtype == rrtype::kAAAA);
  }

 private:
  struct Encoded {
    std::vector<uint8_t> a, aaaa;
    uint16_t a_count = 0, aaaa_count = 0;
    uint8_t scope = 0;
  };
  const std::map<std::string, ServiceAnswer, std::less<>> services_;
  std::map<std::string, Encoded, std::less<>> encoded_;
};

}  // namespace prewarm::dns
