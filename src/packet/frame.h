#pragma once
// Builds Ethernet frames for a flow (IPv4/IPv6; TCP, UDP, ICMP echo, GRE) with correct
// checksums, and verifies checksums of frames the BPF program wrote: what `sluice explain
// --packet`, the fixture tests and the packet benchmark feed to BPF_PROG_TEST_RUN.
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "packet/flow.h"

namespace sluice::packet {

using Mac = std::array<uint8_t, 6>;

inline constexpr uint8_t kTcpFin = 0x01;
inline constexpr uint8_t kTcpSyn = 0x02;
inline constexpr uint8_t kTcpAck = 0x10;

struct FrameOptions {
  Mac src_mac{0x02, 0, 0, 0, 0, 0x01};
  Mac dst_mac{0x02, 0, 0, 0, 0, 0x02};
  std::optional<uint16_t> vlan;  // 802.1Q tag
  uint8_t tcp_flags = kTcpSyn;
  uint8_t icmp_type = 8;  // echo request (128 for ICMPv6 is chosen automatically)
  uint8_t icmp_code = 0;
  std::string payload = "sluice";
  uint16_t ipv4_frag = 0;  // the IPv4 flags+offset field, host order (0x2000 = more fragments)
};

std::vector<uint8_t> build_frame(const FlowSpec& flow, const FrameOptions& options = {});

// One's-complement sum helpers, exposed for tests.
uint16_t internet_checksum(std::span<const uint8_t> data, uint32_t initial = 0);

// Offsets of a parsed frame; nullopt if it is not Ethernet + IPv4/IPv6.
struct FrameLayout {
  size_t l3 = 0;  // IP header
  size_t l4 = 0;  // what follows the IP header(s)
  uint8_t family = 0;
  uint8_t proto = 0;
};
std::optional<FrameLayout> parse_layout(std::span<const uint8_t> frame);

// True when the IPv4 header checksum (if IPv4) and the TCP/UDP/ICMP checksum are right.
bool checksums_ok(std::span<const uint8_t> frame, std::string* why = nullptr);

}  // namespace sluice::packet
