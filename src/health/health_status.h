#pragma once
// The result of active health checking, as an immutable value: published whole to the workers
// on every change, like the config snapshot.
#include <map>
#include <memory>
#include <string>

namespace sluice::health {

struct EndpointHealth {
  bool healthy = true;
  std::string reason;  // why it is in this state, e.g. "connect: Connection refused"
};

struct HealthStatus {
  // cluster name -> endpoint address ("ip:port") -> state. Endpoints not listed are healthy
  // (no check configured, or not checked yet).
  std::map<std::string, std::map<std::string, EndpointHealth>> clusters;

  bool healthy(const std::string& cluster, const std::string& address) const {
    auto c = clusters.find(cluster);
    if (c == clusters.end()) return true;
    auto e = c->second.find(address);
    return e == c->second.end() || e->second.healthy;
  }
};

}  // namespace sluice::health
