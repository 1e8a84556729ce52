#pragma once
// The packet tier inside `sluice run`: resolves what the BPF maps need from the host (interface,
// gateway MAC, outer source), loads and attaches the XDP balancer, and keeps it in step with
// reloads, health checks and the operator's drains. Main thread only.
#include <memory>
#include <set>
#include <string>

#include "config/config.h"
#include "health/health_status.h"
#include "packet/xdp_balancer.h"

namespace sluice::app {

class PacketNode {
 public:
  // The health-check "cluster" of a VIP's reals, and a real's checked address.
  static std::string health_cluster(const config::PacketVip& vip);
  static std::string health_address(const config::PacketVip& vip, const config::PacketReal& real);
  // `config` plus one cluster per checked VIP, for the health checker.
  static config::Config with_health_clusters(const config::Config& config);

  // Applies `tier` (first call: loads and attaches). "" or what went wrong; on error the
  // running state stays as it was, as far as the kernel allows.
  std::string apply(const config::PacketTier& tier, const health::HealthStatus& health);
  void update_health(const health::HealthStatus& health);
  // Takes a real (address as in the config, e.g. 10.0.1.2) out of every VIP's table, or back.
  bool drain(const std::string& real, bool drain);
  // Called every second: follows a change of the gateway's MAC (a replaced router, a VRRP
  // failover) in the neighbour table. XDP_TX bypasses the kernel's neighbour code, so nothing
  // else would notice.
  void refresh_gateway();

  std::string json() const;
  std::string metrics() const;
  packet::XdpBalancer* balancer() { return balancer_.get(); }

 private:
  bool usable(const config::PacketVip& vip, const config::PacketReal& real) const;

  std::unique_ptr<packet::XdpBalancer> balancer_;
  std::optional<config::PacketTier> tier_;
  packet::LbSettings settings_;
  health::HealthStatus health_;
  std::set<std::string> drained_;
};

}  // namespace sluice::app
