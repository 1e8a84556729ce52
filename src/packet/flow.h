#pragma once
// A flow as the BPF program sees it, built from text or addresses, and the flow hash the
// program computes (the same C function, lb_shared.h, compiled for both sides).
#include <optional>
#include <string>
#include <string_view>

#include "core/address.h"
#include "packet/bpf/lb_shared.h"

namespace sluice::packet {

// IANA protocol numbers.
inline constexpr uint8_t kProtoIcmp = 1;
inline constexpr uint8_t kProtoTcp = 6;
inline constexpr uint8_t kProtoUdp = 17;
inline constexpr uint8_t kProtoGre = 47;
inline constexpr uint8_t kProtoIcmpV6 = 58;

struct FlowSpec {
  uint8_t proto = kProtoTcp;
  core::SocketAddress src;
  core::SocketAddress dst;
};

// `tcp 198.51.100.7:40000 -> 192.0.2.10:80`, `udp [2001:db8::1]:53 -> [2001:db8::10]:53`,
// `icmp 198.51.100.7 -> 192.0.2.20`, `gre ...`. Both ends one family. Error text in `error`.
std::optional<FlowSpec> parse_flow_spec(std::string_view text, std::string* error);

// The 16 address bytes the BPF side uses: IPv4 in the first word, the rest zero.
void put_address(const core::IpAddress& ip, __u32 out[4]);
core::IpAddress get_address(const __u32 in[4], uint8_t family);

sluice_flow make_flow(const FlowSpec& spec);
uint32_t flow_hash(const sluice_flow& flow, uint32_t vip_flags);

}  // namespace sluice::packet
