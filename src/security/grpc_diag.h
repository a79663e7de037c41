// Internal to src/security: what DescribeRpcError (tls.h) knows about each TLS channel.
// ChannelCredentials records our side of the link per target, so that when the server
// closes the connection right after the handshake (all a TLS 1.3 client sees when the
// server refuses its certificate) the error can say whether our certificate is the cause.
#pragma once

#include <memory>
#include <string>

#include "security/verify.h"

namespace prewarm::security {

struct ClientTlsInfo {
  std::string cert_file;
  std::string cert_pem;
  std::shared_ptr<const TrustAnchor> ca;
};

void RememberClientTls(const std::string& target, ClientTlsInfo info);

}  // namespace prewarm::security
