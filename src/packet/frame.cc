#include "packet/frame.h"

#include <arpa/inet.h>

#include <cstring>

namespace sluice::packet {
namespace {

void put16(std::vector<uint8_t>& out, size_t at, uint16_t v) {
  out[at] = static_cast<uint8_t>(v >> 8);
  out[at + 1] = static_cast<uint8_t>(v);
}

uint16_t get16(std::span<const uint8_t> in, size_t at) {
  return static_cast<uint16_t>((in[at] << 8) | in[at + 1]);
}

uint32_t sum_words(std::span<const uint8_t> data, uint32_t sum) {
  size_t i = 0;
  for (; i + 1 < data.size(); i += 2) sum += static_cast<uint32_t>((data[i] << 8) | data[i + 1]);
  if (i < data.size()) sum += static_cast<uint32_t>(data[i] << 8);
  return sum;
}

uint16_t fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

// Sum of the IPv4/IPv6 pseudo-header for an upper-layer length.
uint32_t pseudo_sum(std::span<const uint8_t> frame, const FrameLayout& layout, size_t length) {
  uint32_t sum = 0;
  if (layout.family == 4) {
    sum = sum_words(frame.subspan(layout.l3 + 12, 8), 0);
  } else {
    sum = sum_words(frame.subspan(layout.l3 + 8, 32), 0);
  }
  sum += static_cast<uint32_t>(length >> 16) + static_cast<uint32_t>(length & 0xffff);
  sum += layout.proto;
  return sum;
}

}  // namespace

uint16_t internet_checksum(std::span<const uint8_t> data, uint32_t initial) {
  return fold(sum_words(data, initial));
}

std::vector<uint8_t> build_frame(const FlowSpec& flow, const FrameOptions& o) {
  const bool v4 = flow.src.ip.is_v4;
  const uint8_t proto = flow.proto;
  std::vector<uint8_t> l4;
  if (proto == kProtoTcp) {
    l4.assign(20, 0);
    put16(l4, 0, flow.src.port);
    put16(l4, 2, flow.dst.port);
    put16(l4, 4, 0x1234);  // sequence
    l4[12] = 5 << 4;
    l4[13] = o.tcp_flags;
    put16(l4, 14, 65535);
  } else if (proto == kProtoUdp) {
    l4.assign(8, 0);
    put16(l4, 0, flow.src.port);
    put16(l4, 2, flow.dst.port);
    put16(l4, 4, static_cast<uint16_t>(8 + o.payload.size()));
  } else if (proto == kProtoIcmp || proto == kProtoIcmpV6) {
    l4.assign(8, 0);
    l4[0] = proto == kProtoIcmpV6 && o.icmp_type == 8 ? 128 : o.icmp_type;
    l4[1] = o.icmp_code;
    put16(l4, 4, 0x5a5a);  // identifier
    put16(l4, 6, 1);       // sequence
  } else if (proto == kProtoGre) {
    l4.assign(4, 0);
    put16(l4, 2, 0x0800);
  }
  l4.insert(l4.end(), o.payload.begin(), o.payload.end());

  std::vector<uint8_t> frame(o.vlan ? 18 : 14, 0);
  std::memcpy(frame.data(), o.dst_mac.data(), 6);
  std::memcpy(frame.data() + 6, o.src_mac.data(), 6);
  if (o.vlan) {
    put16(frame, 12, 0x8100);
    put16(frame, 14, *o.vlan);
  }
  put16(frame, frame.size() - 2, v4 ? 0x0800 : 0x86dd);
  FrameLayout layout;
  layout.l3 = frame.size();
  layout.family = v4 ? 4 : 6;
  layout.proto = proto;
  if (v4) {
    frame.resize(layout.l3 + 20, 0);
    frame[layout.l3] = 0x45;
    put16(frame, layout.l3 + 2, static_cast<uint16_t>(20 + l4.size()));
    put16(frame, layout.l3 + 4, 0x4242);
    put16(frame, layout.l3 + 6, o.ipv4_frag);
    frame[layout.l3 + 8] = 64;
    frame[layout.l3 + 9] = proto;
    std::memcpy(frame.data() + layout.l3 + 12, flow.src.ip.bytes.data() + 12, 4);
    std::memcpy(frame.data() + layout.l3 + 16, flow.dst.ip.bytes.data() + 12, 4);
    put16(frame, layout.l3 + 10, internet_checksum({frame.data() + layout.l3, 20}));
  } else {
    frame.resize(layout.l3 + 40, 0);
    frame[layout.l3] = 0x60;
    put16(frame, layout.l3 + 4, static_cast<uint16_t>(l4.size()));
    frame[layout.l3 + 6] = proto;
    frame[layout.l3 + 7] = 64;
    std::memcpy(frame.data() + layout.l3 + 8, flow.src.ip.bytes.data(), 16);
    std::memcpy(frame.data() + layout.l3 + 24, flow.dst.ip.bytes.data(), 16);
  }
  layout.l4 = frame.size();
  frame.insert(frame.end(), l4.begin(), l4.end());
  // Checksums over the finished frame (the pseudo-header reads its addresses).
  const std::span<const uint8_t> all(frame);
  const std::span<const uint8_t> upper = all.subspan(layout.l4);
  if (proto == kProtoTcp || proto == kProtoUdp || proto == kProtoIcmpV6) {
    size_t at = layout.l4 + (proto == kProtoTcp ? 16 : proto == kProtoUdp ? 6 : 2);
    uint16_t c = internet_checksum(upper, pseudo_sum(all, layout, upper.size()));
    if (proto == kProtoUdp && c == 0) c = 0xffff;
    put16(frame, at, c);
  } else if (proto == kProtoIcmp) {
    put16(frame, layout.l4 + 2, internet_checksum(upper));
  }
  return frame;
}

std::optional<FrameLayout> parse_layout(std::span<const uint8_t> frame) {
  if (frame.size() < 14) return std::nullopt;
  FrameLayout layout;
  size_t at = 12;
  uint16_t type = get16(frame, at);
  if (type == 0x8100 || type == 0x88a8) {
    if (frame.size() < 18) return std::nullopt;
    at += 4;
    type = get16(frame, at);
  }
  layout.l3 = at + 2;
  if (type == 0x0800) {
    if (frame.size() < layout.l3 + 20) return std::nullopt;
    layout.family = 4;
    layout.proto = frame[layout.l3 + 9];
    layout.l4 = layout.l3 + (frame[layout.l3] & 0xf) * 4;
  } else if (type == 0x86dd) {
    if (frame.size() < layout.l3 + 40) return std::nullopt;
    layout.family = 6;
    layout.proto = frame[layout.l3 + 6];
    layout.l4 = layout.l3 + 40;
  } else {
    return std::nullopt;
  }
  if (layout.l4 > frame.size()) return std::nullopt;
  return layout;
}

bool checksums_ok(std::span<const uint8_t> frame, std::string* why) {
  auto fail = [&](const char* what) {
    if (why) *why = what;
    return false;
  };
  auto layout = parse_layout(frame);
  if (!layout) return fail("not an IP frame");
  if (layout->family == 4 && internet_checksum(frame.subspan(layout->l3, 20)) != 0)
    return fail("bad IPv4 header checksum");
  size_t end = layout->family == 4 ? layout->l3 + get16(frame, layout->l3 + 2)
                                   : layout->l4 + get16(frame, layout->l3 + 4);
  if (end > frame.size()) return fail("IP length beyond the frame");
  auto upper = frame.subspan(layout->l4, end - layout->l4);
  switch (layout->proto) {
    case kProtoTcp:
    case kProtoUdp:
    case kProtoIcmpV6:
      if (layout->proto == kProtoUdp && layout->family == 4 && get16(upper, 6) == 0) return true;
      if (internet_checksum(upper, pseudo_sum(frame, *layout, upper.size())) != 0)
        return fail("bad L4 checksum");
      return true;
    case kProtoIcmp:
      if (internet_checksum(upper) != 0) return fail("bad ICMP checksum");
      return true;
    default:
      return true;
  }
}

}  // namespace sluice::packet
