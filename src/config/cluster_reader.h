#pragma once
// A cluster's block: endpoints, balancer and hash key, health checks, retries, outlier
// detection, circuit breaker, timeouts, TLS and HTTP/2 toward the endpoints.
#include "config/yaml_reader.h"

namespace sluice::config {

Cluster read_cluster(YamlReader& r, const YAML::Node& node);
// Also the packet tier's VIPs check their reals with it.
HealthCheck read_health_check(YamlReader& r, const YAML::Node& node);

}  // namespace sluice::config
