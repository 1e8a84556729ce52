#include "packet/flow.h"

#include <arpa/inet.h>

#include <cstring>

namespace sluice::packet {
namespace {

std::optional<core::SocketAddress> parse_end(std::string_view text, bool ports) {
  if (ports) return core::SocketAddress::parse(text);
  auto ip = core::IpAddress::parse(text);
  if (!ip) return std::nullopt;
  return core::SocketAddress{*ip, 0};
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

}  // namespace

std::optional<FlowSpec> parse_flow_spec(std::string_view text, std::string* error) {
  FlowSpec spec;
  text = trim(text);
  const auto space = text.find(' ');
  const auto arrow = text.find("->");
  if (space == std::string_view::npos || arrow == std::string_view::npos || arrow < space) {
    *error = "expected 'PROTO SRC -> DST', e.g. 'tcp 198.51.100.7:40000 -> 192.0.2.10:80'";
    return std::nullopt;
  }
  const auto proto = text.substr(0, space);
  if (proto == "tcp") {
    spec.proto = kProtoTcp;
  } else if (proto == "udp") {
    spec.proto = kProtoUdp;
  } else if (proto == "icmp") {
    spec.proto = kProtoIcmp;
  } else if (proto == "gre") {
    spec.proto = kProtoGre;
  } else {
    *error = "unknown protocol '" + std::string(proto) + "' (tcp, udp, icmp or gre)";
    return std::nullopt;
  }
  const bool ports = spec.proto == kProtoTcp || spec.proto == kProtoUdp;
  const auto src_text = trim(text.substr(space + 1, arrow - space - 1));
  const auto dst_text = trim(text.substr(arrow + 2));
  auto src = parse_end(src_text, ports);
  auto dst = parse_end(dst_text, ports);
  if (!src || !dst) {
    *error = "bad address '" + std::string(!src ? src_text : dst_text) + "' (" +
             (ports ? "IP:PORT, [IPv6]:PORT" : "an IP address, no port") + ")";
    return std::nullopt;
  }
  if (src->ip.is_v4 != dst->ip.is_v4) {
    *error = "source and destination must be of one address family";
    return std::nullopt;
  }
  if (spec.proto == kProtoIcmp && !src->ip.is_v4) spec.proto = kProtoIcmpV6;
  spec.src = *src;
  spec.dst = *dst;
  return spec;
}

void put_address(const core::IpAddress& ip, __u32 out[4]) {
  std::memset(out, 0, 16);
  if (ip.is_v4) {
    std::memcpy(out, ip.bytes.data() + 12, 4);
  } else {
    std::memcpy(out, ip.bytes.data(), 16);
  }
}

core::IpAddress get_address(const __u32 in[4], uint8_t family) {
  core::IpAddress ip;
  if (family == 4) {
    ip.is_v4 = true;
    ip.bytes[10] = ip.bytes[11] = 0xff;
    std::memcpy(ip.bytes.data() + 12, in, 4);
  } else {
    std::memcpy(ip.bytes.data(), in, 16);
  }
  return ip;
}

sluice_flow make_flow(const FlowSpec& spec) {
  sluice_flow flow{};
  put_address(spec.src.ip, flow.src);
  put_address(spec.dst.ip, flow.dst);
  flow.sport = htons(spec.src.port);
  flow.dport = htons(spec.dst.port);
  flow.proto = spec.proto;
  flow.family = spec.src.ip.is_v4 ? 4 : 6;
  return flow;
}

uint32_t flow_hash(const sluice_flow& flow, uint32_t vip_flags) {
  return sluice_flow_hash(&flow, vip_flags);
}

}  // namespace sluice::packet
