// Test-only: ldns as the reference implementation, to build queries and check responses.
#pragma once

#include <ldns/ldns.h>

#include <cstdlib>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace prewarm::dns::testing {

struct PktDeleter {
  void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
};
using LdnsPkt = std::unique_ptr<ldns_pkt, PktDeleter>;

struct QuerySpec {
  std::string name = "static.edge.example.";
  ldns_rr_type type = LDNS_RR_TYPE_A;
  ldns_rr_class rclass = LDNS_RR_CLASS_IN;
  uint16_t id = 0x1234;
  bool rd = true;
  bool edns = false;
  uint16_t udp_size = 1232;
  uint8_t version = 0;
  bool dnssec_ok = false;
  std::optional<std::vector<uint8_t>> ecs;  // raw option 8 body
  std::vector<std::pair<uint16_t, std::vector<uint8_t>>> extra_options;
};

inline LdnsPkt BuildQuery(const QuerySpec& s) {
  ldns_pkt* q = ldns_pkt_query_new(ldns_dname_new_frm_str(s.name.c_str()), s.type, s.rclass,
                                   s.rd ? LDNS_RD : 0);
  ldns_pkt_set_id(q, s.id);
  if (s.edns) {
    ldns_pkt_set_edns_udp_size(q, s.udp_size);
    ldns_pkt_set_edns_version(q, s.version);
    ldns_pkt_set_edns_do(q, s.dnssec_ok);
    ldns_edns_option_list* list = ldns_edns_option_list_new();
    for (const auto& [code, data] : s.extra_options) {
      ldns_edns_option_list_push(
          list, ldns_edns_new_from_data(static_cast<ldns_edns_option_code>(code), data.size(),
                                        data.data()));
    }
    if (s.ecs) {
      ldns_edns_option_list_push(
          list, ldns_edns_new_from_data(LDNS_EDNS_CLIENT_SUBNET, s.ecs->size(), s.ecs->data()));
    }
    ldns_pkt_set_edns_option_list(q, list);
  }
  return LdnsPkt(q);
}

inline std::vector<uint8_t> ToWire(const ldns_pkt* p) {
  uint8_t* buf = nullptr;
  size_t n = 0;
  if (ldns_pkt2wire(&buf, p, &n) != LDNS_STATUS_OK) {
    return {};
  }
  std::vector<uint8_t> out(buf, buf + n);
  std::free(buf);
  return out;
}

inline std::vector<uint8_t> QueryWire(const QuerySpec& s) { return ToWire(BuildQuery(s).get()); }

// nullptr when ldns rejects the bytes.
inline LdnsPkt FromWire(std::span<const uint8_t> wire) {
  ldns_pkt* p = nullptr;
  if (ldns_wire2pkt(&p, wire.data(), wire.size()) != LDNS_STATUS_OK) {
    return nullptr;
  }
  return LdnsPkt(p);
}

inline std::string RdfText(const ldns_rdf* rdf) {
  char* s = ldns_rdf2str(rdf);
  std::string out = s ? s : "";
  std::free(s);
  return out;
}

}  // namespace prewarm::dns::testing
