#pragma once
// PROXY protocol headers (HAProxy's spec, versions 1 and 2) that tell a backend the client's
// address on a proxied TCP connection.
#include <string>

#include "core/address.h"

namespace sluice::l4 {

// "PROXY TCP4 src dst sport dport\r\n" (TCP6 for IPv6; mixed families use the IPv6 forms).
std::string proxy_v1_header(const core::SocketAddress& source,
                            const core::SocketAddress& destination);
// The 16-byte signature block and the address block, command PROXY over TCP.
std::string proxy_v2_header(const core::SocketAddress& source,
                            const core::SocketAddress& destination);

}  // namespace sluice::l4
