#pragma once
// PROXY protocol headers (HAProxy's spec, versions 1 and 2) that tell a backend the client's
// address on a proxied TCP connection.
#include <string>

#include "core/address.h"

namespace sluice::l4 {

struct ProxyHeader {
  enum class State { kIncomplete, kDone, kError };
  State state = State::kIncomplete;
  const char* error = "";
  size_t consumed = 0;  // header length
  bool local = false;   // v2 LOCAL / v1 UNKNOWN: keep the connection's own addresses
  core::SocketAddress source;
  core::SocketAddress destination;
};

// Parses a v1 or v2 header at the start of `bytes` (HAProxy's spec). Strict: a v1 line longer
// than 107 bytes, unknown protocols, bad addresses or ports, or a v2 block shorter than its
// family needs are errors.
ProxyHeader parse_proxy_header(std::string_view bytes);

// "PROXY TCP4 src dst sport dport\r\n" (TCP6 for IPv6; mixed families use the IPv6 forms).
std::string proxy_v1_header(const core::SocketAddress& source,
                            const core::SocketAddress& destination);
// The 16-byte signature block and the address block, command PROXY over TCP.
std::string proxy_v2_header(const core::SocketAddress& source,
                            const core::SocketAddress& destination, bool udp = false);

}  // namespace sluice::l4
