#include "l4/proxy_protocol.h"

#include <algorithm>
#include <cstring>

namespace sluice::l4 {
namespace {

core::IpAddress as_v6(core::IpAddress ip) {
  ip.is_v4 = false;  // the mapped form is already stored
  return ip;
}

}  // namespace

ProxyHeader parse_proxy_header(std::string_view bytes) {
  ProxyHeader h;
  auto fail = [&](const char* why) {
    h.state = ProxyHeader::State::kError;
    h.error = why;
    return h;
  };
  static constexpr std::string_view kV2Signature("\r\n\r\n\0\r\nQUIT\n", 12);
  if (bytes.size() < 12) {
    // Decide early when the prefix already rules both versions out.
    if (kV2Signature.substr(0, bytes.size()) != bytes &&
        std::string_view("PROXY ").substr(0, std::min<size_t>(bytes.size(), 6)) !=
            bytes.substr(0, std::min<size_t>(bytes.size(), 6))) {
      return fail("no PROXY protocol header");
    }
    return h;
  }
  if (bytes.substr(0, 12) == kV2Signature) {
    if (bytes.size() < 16) return h;
    const auto b = [&](size_t i) { return static_cast<uint8_t>(bytes[i]); };
    if ((b(12) >> 4) != 2) return fail("bad v2 version");
    const int command = b(12) & 0x0f;
    const size_t length = (size_t{b(14)} << 8) | b(15);
    if (bytes.size() < 16 + length) return h;
    h.consumed = 16 + length;
    if (command == 0) {  // LOCAL: health checks from the proxy itself
      h.local = true;
      h.state = ProxyHeader::State::kDone;
      return h;
    }
    if (command != 1) return fail("bad v2 command");
    const int family = b(13) >> 4;
    const int transport = b(13) & 0x0f;
    if (transport != 1 && transport != 2) return fail("bad v2 transport");
    std::string_view block = bytes.substr(16, length);
    auto port_at = [&](size_t i) {
      return static_cast<uint16_t>((uint16_t{b(16 + i)} << 8) | b(17 + i));
    };
    if (family == 1) {
      if (length < 12) return fail("short v2 IPv4 block");
      h.source.ip.is_v4 = h.destination.ip.is_v4 = true;
      static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
      std::memcpy(h.source.ip.bytes.data(), kMapped, 12);
      std::memcpy(h.destination.ip.bytes.data(), kMapped, 12);
      std::memcpy(h.source.ip.bytes.data() + 12, block.data(), 4);
      std::memcpy(h.destination.ip.bytes.data() + 12, block.data() + 4, 4);
      h.source.port = port_at(8);
      h.destination.port = port_at(10);
    } else if (family == 2) {
      if (length < 36) return fail("short v2 IPv6 block");
      std::memcpy(h.source.ip.bytes.data(), block.data(), 16);
      std::memcpy(h.destination.ip.bytes.data(), block.data() + 16, 16);
      h.source.port = port_at(32);
      h.destination.port = port_at(34);
    } else {
      h.local = true;  // AF_UNSPEC / unix: no usable address
    }
    h.state = ProxyHeader::State::kDone;
    return h;
  }
  if (bytes.substr(0, 6) != "PROXY ") return fail("no PROXY protocol header");
  auto eol = bytes.find("\r\n");
  if (eol == std::string_view::npos) {
    if (bytes.size() > 107) return fail("v1 line too long");
    return h;
  }
  if (eol + 2 > 107) return fail("v1 line too long");
  std::string_view line = bytes.substr(6, eol - 6);
  h.consumed = eol + 2;
  if (line.substr(0, 7) == "UNKNOWN") {
    h.local = true;
    h.state = ProxyHeader::State::kDone;
    return h;
  }
  // TCP4|TCP6 SP src SP dst SP sport SP dport
  std::string_view parts[5];
  size_t n = 0, pos = 0;
  while (n < 5) {
    size_t sp = line.find(' ', pos);
    parts[n++] = line.substr(pos, sp == std::string_view::npos ? line.npos : sp - pos);
    if (sp == std::string_view::npos) break;
    pos = sp + 1;
  }
  if (n != 5 || std::count(line.begin(), line.end(), ' ') != 4) return fail("bad v1 line");
  if (parts[0] != "TCP4" && parts[0] != "TCP6") return fail("bad v1 protocol");
  auto src = core::IpAddress::parse(parts[1]);
  auto dst = core::IpAddress::parse(parts[2]);
  if (!src || !dst || src->is_v4 != (parts[0] == "TCP4") || dst->is_v4 != (parts[0] == "TCP4")) {
    return fail("bad v1 address");
  }
  auto port = [](std::string_view s, uint16_t* out) {
    if (s.empty() || s.size() > 5 || (s.size() > 1 && s[0] == '0')) return false;
    uint32_t v = 0;
    for (char c : s) {
      if (c < '0' || c > '9') return false;
      v = v * 10 + static_cast<uint32_t>(c - '0');
    }
    if (v > 65535) return false;
    *out = static_cast<uint16_t>(v);
    return true;
  };
  h.source.ip = *src;
  h.destination.ip = *dst;
  if (!port(parts[3], &h.source.port) || !port(parts[4], &h.destination.port))
    return fail("bad v1 port");
  h.state = ProxyHeader::State::kDone;
  return h;
}

std::string proxy_v1_header(const core::SocketAddress& source,
                            const core::SocketAddress& destination) {
  const bool v4 = source.ip.is_v4 && destination.ip.is_v4;
  std::string out = v4 ? "PROXY TCP4 " : "PROXY TCP6 ";
  out.append(v4 ? source.ip.to_string() : as_v6(source.ip).to_string());
  out.push_back(' ');
  out.append(v4 ? destination.ip.to_string() : as_v6(destination.ip).to_string());
  out.push_back(' ');
  out.append(std::to_string(source.port));
  out.push_back(' ');
  out.append(std::to_string(destination.port));
  out.append("\r\n");
  return out;
}

std::string proxy_v2_header(const core::SocketAddress& source,
                            const core::SocketAddress& destination, bool udp) {
  static constexpr unsigned char kSignature[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                                   0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
  const bool v4 = source.ip.is_v4 && destination.ip.is_v4;
  std::string out(reinterpret_cast<const char*>(kSignature), 12);
  out.push_back(static_cast<char>(0x21));  // version 2, command PROXY
  // family (IPv4 1, IPv6 2) and transport (stream 1, datagram 2)
  out.push_back(static_cast<char>((v4 ? 0x10 : 0x20) | (udp ? 0x02 : 0x01)));
  const uint16_t length = v4 ? 12 : 36;
  out.push_back(static_cast<char>(length >> 8));
  out.push_back(static_cast<char>(length & 0xff));
  const size_t offset = v4 ? 12 : 0;
  const size_t size = v4 ? 4 : 16;
  out.append(reinterpret_cast<const char*>(source.ip.bytes.data() + offset), size);
  out.append(reinterpret_cast<const char*>(destination.ip.bytes.data() + offset), size);
  for (uint16_t port : {source.port, destination.port}) {
    out.push_back(static_cast<char>(port >> 8));
    out.push_back(static_cast<char>(port & 0xff));
  }
  return out;
}

}  // namespace sluice::l4
