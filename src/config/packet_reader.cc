#include "config/packet_reader.h"

#include "config/cluster_reader.h"

namespace sluice::config {
namespace {

std::optional<core::IpAddress> read_ip(YamlReader& r, const YAML::Node& node,
                                       std::string_view what) {
  auto s = r.string(node, what);
  if (!s) return std::nullopt;
  auto ip = core::IpAddress::parse(*s);
  if (!ip) r.error(node, std::string(what) + ": bad IP address '" + *s + "'");
  return ip;
}

// `10.0.0.2` (one address) or `10.0.0.0/24` (the outer source varies within it per flow).
std::optional<core::Cidr> read_source(YamlReader& r, const YAML::Node& node, std::string_view what,
                                      bool v4) {
  auto s = r.string(node, what);
  if (!s) return std::nullopt;
  auto cidr =
      s->find('/') == std::string::npos ? std::optional<core::Cidr>{} : core::Cidr::parse(*s);
  if (s->find('/') == std::string::npos) {
    if (auto ip = core::IpAddress::parse(*s)) cidr = core::Cidr{*ip, 128};
  }
  if (!cidr || cidr->prefix.is_v4 != v4) {
    r.error(node, std::string(what) + ": expected an " + (v4 ? "IPv4" : "IPv6") +
                      " address or prefix, got '" + *s + "'");
    return std::nullopt;
  }
  if (cidr->bits < 96 + 8 && v4) r.error(node, std::string(what) + ": prefix wider than /8");
  return cidr;
}

PacketVip read_packet_vip(YamlReader& r, const YAML::Node& node) {
  PacketVip vip;
  vip.mark = r.mark(node);
  if (!r.expect_map(node, "packet vip",
                    {"address", "port", "protocol", "mode", "forward", "hash", "reals",
                     "health_check", "health_port"})) {
    return vip;
  }
  if (!node["address"]) {
    r.error(node, "a packet vip needs an address");
  } else if (auto ip = read_ip(r, node["address"], "vip address")) {
    vip.address = *ip;
  }
  if (node["mode"]) {
    if (auto s = r.string(node["mode"], "mode")) {
      if (*s != "l3" && *s != "l4") r.error(node["mode"], "mode must be l3 or l4");
      vip.mode = *s;
    }
  }
  const bool l4 = vip.mode == "l4";
  if (node["protocol"]) {
    if (!l4) {
      r.error(node["protocol"], "an l3 vip balances every IP protocol: protocol only for l4");
    } else if (auto s = r.string(node["protocol"], "protocol")) {
      if (*s != "tcp" && *s != "udp") r.error(node["protocol"], "protocol must be tcp or udp");
      vip.protocol = *s;
    }
  } else if (l4) {
    vip.protocol = "tcp";
  }
  if (node["port"]) {
    if (!l4) {
      r.error(node["port"], "an l3 vip has no port (mode: l4 balances by port)");
    } else if (auto v = r.uint(node["port"], "port", 0, 65535)) {
      vip.port = static_cast<uint16_t>(*v);
    }
  }
  if (node["forward"]) {
    if (auto s = r.string(node["forward"], "forward")) {
      if (*s != "ipip" && *s != "nat") r.error(node["forward"], "forward must be ipip or nat");
      vip.forward = *s;
    }
  }
  if (node["hash"]) {
    if (auto s = r.string(node["hash"], "hash")) {
      if (*s != "flow" && *s != "source_ip")
        r.error(node["hash"], "hash must be flow or source_ip");
      vip.hash_source_only = *s == "source_ip";
    }
  }
  constexpr size_t kMaxReals = 655;  // keeps the Maglev table at 65537 slots (100 per real)
  if (!node["reals"] || !node["reals"].IsSequence() || node["reals"].size() == 0) {
    r.error(node["reals"] ? node["reals"] : node, "a packet vip needs a non-empty list of reals");
  } else if (node["reals"].size() > kMaxReals) {
    r.error(node["reals"], "at most " + std::to_string(kMaxReals) + " reals per vip");
  } else {
    for (const auto& rn : node["reals"]) {
      PacketReal real;
      // Not assigned later: assigning a yaml-cpp node writes through to the node it refers to.
      const YAML::Node addr = rn.IsMap() ? rn["address"] : rn;
      if (rn.IsMap()) {
        if (!r.expect_map(rn, "real", {"address", "weight", "port"})) continue;
        if (!addr) {
          r.error(rn, "a real needs an address");
          continue;
        }
        if (rn["weight"]) {
          if (auto w = r.uint(rn["weight"], "weight", 1, 10000)) real.weight = *w;
        }
        if (rn["port"]) {
          if (vip.forward != "nat" || !l4) {
            r.error(rn["port"], "a real's port only applies to forward: nat with mode: l4");
          } else if (auto v = r.uint(rn["port"], "port", 1, 65535)) {
            real.port = static_cast<uint16_t>(*v);
          }
        }
      }
      auto ip = read_ip(r, addr, "real address");
      if (!ip) continue;
      real.address = *ip;
      if (vip.forward == "nat" && ip->is_v4 != vip.address.is_v4) {
        r.error(addr, "forward: nat keeps the address family: the real must be " +
                          std::string(vip.address.is_v4 ? "IPv4" : "IPv6"));
      }
      for (const auto& other : vip.reals) {
        if (other.address == real.address && other.port == real.port)
          r.error(addr, "duplicate real " + ip->to_string());
      }
      vip.reals.push_back(real);
    }
  }
  if (node["health_check"]) {
    vip.health_check = read_health_check(r, node["health_check"]);
    if (vip.health_check->type_given && vip.health_check->type != HealthCheck::Type::kTcp) {
      r.error(node["health_check"]["type"], "packet vips have tcp health checks only");
    }
    vip.health_check->type = HealthCheck::Type::kTcp;
  }
  if (node["health_port"]) {
    if (auto v = r.uint(node["health_port"], "health_port", 1, 65535))
      vip.health_port = static_cast<uint16_t>(*v);
  }
  if (vip.health_check && !vip.health_port && !vip.port) {
    bool all_have_ports = !vip.reals.empty();
    for (const auto& real : vip.reals) all_have_ports = all_have_ports && real.port != 0;
    if (!all_have_ports)
      r.error(node["health_check"], "this vip has no port to check: set health_port");
  }
  return vip;
}

}  // namespace

PacketTier read_packet(YamlReader& r, const YAML::Node& node) {
  PacketTier tier;
  tier.mark = r.mark(node);
  if (!r.expect_map(node, "packet",
                    {"interface", "gateway", "gateway_mac", "source", "source_v6", "attach",
                     "conn_table_size", "vips"})) {
    return tier;
  }
  if (!node["interface"]) {
    r.error(node, "packet needs an interface");
  } else if (auto s = r.string(node["interface"], "interface")) {
    if (s->empty() || s->size() >= 16) r.error(node["interface"], "bad interface name");
    tier.interface = *s;
  }
  if (node["gateway"]) tier.gateway = read_ip(r, node["gateway"], "gateway");
  if (node["gateway_mac"]) {
    if (auto s = r.string(node["gateway_mac"], "gateway_mac")) {
      tier.gateway_mac = core::parse_mac(*s);
      if (!tier.gateway_mac)
        r.error(node["gateway_mac"], "gateway_mac: expected aa:bb:cc:dd:ee:ff, got '" + *s + "'");
    }
  }
  if (!tier.gateway && !tier.gateway_mac) {
    r.error(node, "packet needs a gateway (or gateway_mac): forwarded packets go to it");
  }
  if (tier.gateway && !tier.gateway->is_v4 && !tier.gateway_mac) {
    r.error(node["gateway"], "an IPv6 gateway needs gateway_mac (its MAC is not looked up)");
  }
  if (node["source"]) tier.source_v4 = read_source(r, node["source"], "source", true);
  if (node["source_v6"]) tier.source_v6 = read_source(r, node["source_v6"], "source_v6", false);
  if (node["attach"]) {
    if (auto s = r.string(node["attach"], "attach")) {
      if (*s != "native" && *s != "generic" && *s != "auto" && *s != "tc")
        r.error(node["attach"], "attach must be native, generic, auto or tc");
      tier.attach = *s;
    }
  }
  if (node["conn_table_size"]) {
    if (auto v = r.uint(node["conn_table_size"], "conn_table_size", 1024, 1u << 26))
      tier.conn_table_size = *v;
  }
  if (!node["vips"] || !node["vips"].IsSequence() || node["vips"].size() == 0) {
    r.error(node["vips"] ? node["vips"] : node, "packet needs a non-empty list of vips");
    return tier;
  }
  if (node["vips"].size() > 512) r.error(node["vips"], "at most 512 packet vips");
  for (const auto& vn : node["vips"]) {
    auto vip = read_packet_vip(r, vn);
    for (const auto& other : tier.vips) {
      if (other.name() == vip.name()) r.error(vn, "duplicate vip " + vip.name());
      if (other.address == vip.address && other.mode != vip.mode) {
        r.error(vn, "address " + vip.address.to_string() + " is both an l3 and an l4 vip");
      }
    }
    tier.vips.push_back(std::move(vip));
  }
  return tier;
}

}  // namespace sluice::config
