// `prewarm certs`: the certificates for mutual TLS on every gRPC link (src/security/).
//
//   prewarm certs init DIR [--orchestrator NAME=ADDR[,ADDR...]]... [--etcd NAME=ADDR[,ADDR...]]...
//                          [--agent ID=CIDR]... [--days N] [--ca-days N] [--force]
//   prewarm certs issue --dir DIR --role ROLE --name NAME [--range CIDR] [--ip IP]...
//                       [--dns NAME]... [--days N] [--expired] [--force]
//
// init makes a CA (ca.crt, ca.key) and what a one-machine cluster needs (two orchestrator
// replicas, three etcd members, agents fra-1, iad-1, sin-1, a forecaster, an operator);
// each list option replaces its defaults. It refuses to replace an existing CA unless
// --force. issue signs one more certificate with the CA in DIR: how an operator adds a node
// on another machine. Both print every file written. The layout and the identity each
// certificate carries: src/security/cluster_certs.h, src/security/certs.h.
#pragma once

#include "CLI/CLI.hpp"

namespace prewarm::cli {

void AddCertsCommand(CLI::App& app);

}  // namespace prewarm::cli
