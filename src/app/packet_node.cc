#include "app/packet_node.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/log.h"
#include "packet/interface.h"

namespace sluice::app {
namespace {

std::string real_name(const config::PacketReal& real) {
  return real.port ? core::SocketAddress{real.address, real.port}.to_string()
                   : real.address.to_string();
}

}  // namespace

std::string PacketNode::health_cluster(const config::PacketVip& vip) {
  return "packet " + vip.name();
}

std::string PacketNode::health_address(const config::PacketVip& vip,
                                       const config::PacketReal& real) {
  uint16_t port = vip.health_port ? vip.health_port : real.port ? real.port : vip.port;
  return core::SocketAddress{real.address, port}.to_string();
}

config::Config PacketNode::with_health_clusters(const config::Config& config) {
  config::Config out = config;
  if (!config.packet) return out;
  for (const auto& vip : config.packet->vips) {
    if (!vip.health_check) continue;
    config::Cluster c;
    c.name = health_cluster(vip);
    c.health_check = vip.health_check;
    for (const auto& real : vip.reals) {
      config::Endpoint e;
      e.address = *core::SocketAddress::parse(health_address(vip, real));
      c.endpoints.push_back(e);
    }
    out.clusters.push_back(std::move(c));
  }
  return out;
}

bool PacketNode::usable(const config::PacketVip& vip, const config::PacketReal& real) const {
  if (drained_.count(real_name(real)) || drained_.count(real.address.to_string())) return false;
  if (!vip.health_check) return true;
  return health_.healthy(health_cluster(vip), health_address(vip, real));
}

std::string PacketNode::apply(const config::PacketTier& tier, const health::HealthStatus& health) {
  std::string error;
  auto info = packet::interface_info(tier.interface, &error);
  if (!info) return error;
  packet::LbSettings settings;
  settings.mtu = info->mtu;
  if (tier.gateway_mac) {
    settings.gateway_mac = *tier.gateway_mac;
  } else {
    auto mac = packet::resolve_gateway_mac(*tier.gateway, tier.interface, &error);
    if (!mac) return error;
    settings.gateway_mac = *mac;
  }
  settings.source_v4 = tier.source_v4;
  if (!settings.source_v4 && info->ipv4) settings.source_v4 = core::Cidr{*info->ipv4, 128};
  settings.source_v6 = tier.source_v6;
  if (!settings.source_v6 && info->ipv6) settings.source_v6 = core::Cidr{*info->ipv6, 128};
  for (const auto& vip : tier.vips) {
    if (vip.forward != "ipip") continue;
    for (const auto& real : vip.reals) {
      if (real.address.is_v4 ? !settings.source_v4 : !settings.source_v6) {
        return "packet: vip " + vip.name() + " tunnels to " + real.address.to_string() + " but " +
               tier.interface + " has no " + (real.address.is_v4 ? "IPv4" : "IPv6") +
               " address for the outer source: set packet." +
               (real.address.is_v4 ? "source" : "source_v6");
      }
    }
  }
  if (!balancer_ || (tier_ && tier_->conn_table_size != tier.conn_table_size)) {
    if (balancer_)
      core::log_warn("packet: conn_table_size changes take effect at the next restart");
    if (!balancer_) {
      balancer_ = packet::XdpBalancer::load(tier.conn_table_size, &error);
      if (!balancer_) return error;
    }
  }
  health_ = health;
  auto keep = [this](const config::PacketVip& v, const config::PacketReal& r) {
    return usable(v, r);
  };
  if (!balancer_->configure(tier.vips, settings, keep, &error)) return "packet: " + error;
  std::string warning;
  if (!balancer_->attach(tier.interface, tier.attach, &error, &warning)) return error;
  if (!warning.empty()) core::log_warn("{}", warning);
  if (!tier_ || tier_->interface != tier.interface) {
    core::log_info("packet: XDP balancer on {} ({} vips, gateway {})", tier.interface,
                   tier.vips.size(), packet::mac_to_string(settings.gateway_mac));
  }
  tier_ = tier;
  settings_ = settings;
  return {};
}

void PacketNode::update_health(const health::HealthStatus& health) {
  if (!balancer_ || !tier_) return;
  health_ = health;
  std::string error;
  auto keep = [this](const config::PacketVip& v, const config::PacketReal& r) {
    return usable(v, r);
  };
  if (!balancer_->configure(tier_->vips, settings_, keep, &error))
    core::log_error("packet: health update failed: {}", error);
}

void PacketNode::refresh_gateway() {
  if (!balancer_ || !tier_ || tier_->gateway_mac || !tier_->gateway) return;
  auto mac = packet::neighbour_mac(*tier_->gateway, tier_->interface);
  if (!mac) {
    packet::trigger_resolution(*tier_->gateway, tier_->interface);  // read again next time
    return;
  }
  if (*mac == settings_.gateway_mac) return;
  core::log_info("packet: gateway {} is now at {} (was {})", tier_->gateway->to_string(),
                 packet::mac_to_string(*mac), packet::mac_to_string(settings_.gateway_mac));
  settings_.gateway_mac = *mac;
  update_health(health_);  // rewrites the settings; no table changes
}

bool PacketNode::drain(const std::string& real, bool drain) {
  if (!tier_) return false;
  bool found = false;
  for (const auto& vip : tier_->vips) {
    for (const auto& r : vip.reals) found = found || real_name(r) == real;
  }
  if (!found) return false;
  if (drain) {
    drained_.insert(real);
    core::log_info("admin: draining packet real {}: no new flows, established ones stay", real);
  } else {
    drained_.erase(real);
    core::log_info("admin: packet real {} takes new flows again", real);
  }
  update_health(health_);
  return true;
}

std::string PacketNode::json() const {
  nlohmann::json out;
  if (!tier_ || !balancer_) return "{}\n";
  auto counters = balancer_->counters();
  auto find = [](const auto& list, const std::string& name) {
    for (const auto& [n, c] : list) {
      if (n == name) return c;
    }
    return packet::Counter{};
  };
  out["interface"] = tier_->interface;
  out["gateway_mac"] = packet::mac_to_string(settings_.gateway_mac);
  out["vips"] = nlohmann::json::array();
  for (const auto& vip : tier_->vips) {
    nlohmann::json v;
    v["vip"] = vip.name();
    v["mode"] = vip.mode;
    v["forward"] = vip.forward;
    auto c = find(counters.vips, vip.name());
    v["packets"] = c.packets;
    v["bytes"] = c.bytes;
    v["reals"] = nlohmann::json::array();
    for (const auto& real : vip.reals) {
      nlohmann::json r;
      r["address"] = real_name(real);
      r["weight"] = real.weight;
      const bool drained = drained_.count(real_name(real)) > 0;
      const bool healthy =
          !vip.health_check || health_.healthy(health_cluster(vip), health_address(vip, real));
      r["state"] = drained ? "draining" : healthy ? "healthy" : "unhealthy";
      auto rc = find(counters.reals, real_name(real));
      r["packets"] = rc.packets;
      r["bytes"] = rc.bytes;
      v["reals"].push_back(r);
    }
    out["vips"].push_back(v);
  }
  for (int i = 0; i < SLUICE_REASON_COUNT; ++i)
    out["verdicts"][std::string(packet::reason_name(i))] = counters.reasons[i].packets;
  return out.dump(2) + "\n";
}

std::string PacketNode::metrics() const {
  if (!tier_ || !balancer_) return {};
  auto counters = balancer_->counters();
  std::string out;
  // One counter series: HELP and TYPE, then a line per (label value, count).
  using Field = uint64_t packet::Counter::*;
  auto series = [&out](const char* name, const char* help, const char* label,
                       const std::vector<std::pair<std::string, packet::Counter>>& rows,
                       Field field) {
    out += fmt::format("# HELP {0} {1}\n# TYPE {0} counter\n", name, help);
    for (const auto& [value, c] : rows)
      out += fmt::format("{}{{{}=\"{}\"}} {}\n", name, label, value, c.*field);
  };
  series("sluice_packet_vip_packets_total", "Packets balanced per packet-tier VIP.", "vip",
         counters.vips, &packet::Counter::packets);
  series("sluice_packet_vip_bytes_total", "IP bytes balanced per packet-tier VIP.", "vip",
         counters.vips, &packet::Counter::bytes);
  series("sluice_packet_real_packets_total", "Packets sent to each packet-tier real.", "real",
         counters.reals, &packet::Counter::packets);
  series("sluice_packet_real_bytes_total", "IP bytes sent to each packet-tier real.", "real",
         counters.reals, &packet::Counter::bytes);
  std::vector<std::pair<std::string, packet::Counter>> verdicts;
  for (int i = 0; i < SLUICE_REASON_COUNT; ++i)
    verdicts.emplace_back(std::string(packet::reason_name(i)), counters.reasons[i]);
  series("sluice_packet_verdicts_total", "Packets by what the XDP program did with them.", "reason",
         verdicts, &packet::Counter::packets);
  return out;
}

}  // namespace sluice::app
