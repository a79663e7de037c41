// DNS wire-format vocabulary: record types, rcodes, the fixed 12-byte header and
// bounds-checked big-endian readers. Header-only; everything here is constexpr-cheap.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace prewarm::dns {

namespace rrtype {
inline constexpr uint16_t kA = 1;
inline constexpr uint16_t kNS = 2;
inline constexpr uint16_t kCNAME = 5;
inline constexpr uint16_t kSOA = 6;
inline constexpr uint16_t kAAAA = 28;
inline constexpr uint16_t kOPT = 41;
inline constexpr uint16_t kIXFR = 251;
inline constexpr uint16_t kAXFR = 252;
inline constexpr uint16_t kANY = 255;
}  // namespace rrtype

inline constexpr uint16_t kClassIN = 1;
inline constexpr uint16_t kClassAny = 255;  // QCLASS "*": matches the zone's class (RFC 1035 3.2.5)
inline constexpr size_t kHeaderSize = 12;
inline constexpr size_t kMaxNameSize = 255;
inline constexpr size_t kMaxLabelSize = 63;
inline constexpr size_t kClassicUdpSize = 512;
inline constexpr uint16_t kEdnsOptionClientSubnet = 8;
inline constexpr uint16_t kEdnsOptionCookie = 10;  // RFC 7873

// Response codes; values above 15 need the OPT record's extended-rcode bits.
enum class Rcode : uint16_t {
  kNoError = 0,
  kFormErr = 1,
  kServFail = 2,
  kNxDomain = 3,
  kNotImp = 4,
  kRefused = 5,
  kBadVers = 16,
  kBadCookie = 23,  // RFC 7873 §8
};

inline constexpr uint8_t kOpcodeQuery = 0;

// The fixed header. `flags` holds QR, opcode, AA, TC, RD, RA, Z, AD, CD and the low
// four rcode bits exactly as on the wire.
struct Header {
  uint16_t id = 0;
  uint16_t flags = 0;
  uint16_t qdcount = 0;
  uint16_t ancount = 0;
  uint16_t nscount = 0;
  uint16_t arcount = 0;

  static constexpr uint16_t kQr = 0x8000;
  static constexpr uint16_t kAa = 0x0400;
  static constexpr uint16_t kTc = 0x0200;
  static constexpr uint16_t kRd = 0x0100;
  static constexpr uint16_t kRa = 0x0080;
  static constexpr uint16_t kAd = 0x0020;
  static constexpr uint16_t kCd = 0x0010;

  bool qr() const { return (flags & kQr) != 0; }
  bool aa() const { return (flags & kAa) != 0; }
  bool tc() const { return (flags & kTc) != 0; }
  bool rd() const { return (flags & kRd) != 0; }
  uint8_t opcode() const { return static_cast<uint8_t>((flags >> 11) & 0xF); }
  uint8_t rcode_low() const { return static_cast<uint8_t>(flags & 0xF); }
};

inline uint16_t Load16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
inline uint32_t Load32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
inline void Store16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
inline void Store32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

// Reads the header; nullopt when fewer than 12 bytes.
inline std::optional<Header> ReadHeader(std::span<const uint8_t> msg) {
  if (msg.size() < kHeaderSize) {
    return std::nullopt;
  }
  const uint8_t* p = msg.data();
  return Header{Load16(p),     Load16(p + 2), Load16(p + 4),
                Load16(p + 6), Load16(p + 8), Load16(p + 10)};
}

inline void WriteHeader(const Header& h, uint8_t* p) {
  Store16(p, h.id);
  Store16(p + 2, h.flags);
  Store16(p + 4, h.qdcount);
  Store16(p + 6, h.ancount);
  Store16(p + 8, h.nscount);
  Store16(p + 10, h.arcount);
}

// TCP framing (RFC 1035 §4.2.2, RFC 7766): every message is preceded by its length as a
// 16-bit big-endian integer.
inline constexpr size_t kTcpLengthSize = 2;

// The first complete framed message at the start of `buf`, or nullopt when more bytes
// are needed. The frame occupies 2 + result->size() bytes of `buf`.
inline std::optional<std::span<const uint8_t>> NextTcpFrame(std::span<const uint8_t> buf) {
  if (buf.size() < kTcpLengthSize) {
    return std::nullopt;
  }
  size_t len = Load16(buf.data());
  if (buf.size() < kTcpLengthSize + len) {
    return std::nullopt;
  }
  return buf.subspan(kTcpLengthSize, len);
}

// Writes the 2-byte length prefix for a message of `len` bytes (len <= 65535).
inline void WriteTcpLength(uint8_t* p, size_t len) { Store16(p, static_cast<uint16_t>(len)); }

}  // namespace prewarm::dns
