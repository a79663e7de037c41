// SipHash-2-4 (Aumasson and Bernstein, 2012): a keyed 64-bit hash. DNS Cookies use it
// for RFC 9018 server cookies and response rate limiting uses it to place client networks
// in its table (keyed, so a sender cannot choose networks that collide). A local
// implementation: OpenSSL's EVP_MAC costs an allocation and a context per call, too much
// for a path that runs once per query.
#pragma once

#include <array>
#include <cstdint>
#include <span>

namespace prewarm::dns {

using SipKey = std::array<uint8_t, 16>;

// The 64-bit result as an integer; the reference implementation writes it little-endian.
uint64_t SipHash24(const SipKey& key, std::span<const uint8_t> data);

// A key from the kernel's random source (getrandom), for the server's secrets.
SipKey RandomSipKey();

}  // namespace prewarm::dns
