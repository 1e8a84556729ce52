#pragma once
// The result of active health checking, as an immutable value: published whole to the workers
// on every change, like the config snapshot.
#include <map>
#include <memory>
#include <string>

namespace sluice::health {

struct EndpointHealth {
  bool healthy = true;
  // An operator took it out of rotation (admin API); in-flight requests finish.
  bool draining = false;
  bool ejected = false;  // outlier detection took it out for a while
  std::string reason;    // why it is in this state, e.g. "connect: Connection refused"
};

struct HealthStatus {
  // cluster name -> endpoint address ("ip:port") -> state. Endpoints not listed are healthy
  // (no check configured, or not checked yet).
  std::map<std::string, std::map<std::string, EndpointHealth>> clusters;

  const EndpointHealth* find(const std::string& cluster, const std::string& address) const {
    auto c = clusters.find(cluster);
    if (c == clusters.end()) return nullptr;
    auto e = c->second.find(address);
    return e == c->second.end() ? nullptr : &e->second;
  }
  bool healthy(const std::string& cluster, const std::string& address) const {
    const auto* e = find(cluster, address);
    return !e || e->healthy;
  }
  // May new requests go to it?
  bool usable(const std::string& cluster, const std::string& address) const {
    const auto* e = find(cluster, address);
    return !e || (e->healthy && !e->draining && !e->ejected);
  }
  // "healthy", "unhealthy", "ejected" or "draining"
  const char* state(const std::string& cluster, const std::string& address) const {
    const auto* e = find(cluster, address);
    if (!e) return "healthy";
    if (e->draining) return "draining";
    if (!e->healthy) return "unhealthy";
    return e->ejected ? "ejected" : "healthy";
  }
};

}  // namespace sluice::health
