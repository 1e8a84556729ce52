#include "l7/stats.h"

#include "core/shared_by_name.h"

namespace sluice::l7 {

std::shared_ptr<ClusterShared> ClusterShared::for_cluster(const std::string& name) {
  return core::shared_by_name<ClusterShared>(name);
}

RouteStats* WorkerStats::route(const std::string& listener, const std::string& route,
                               const std::string& cluster) {
  std::lock_guard lock(mu_);
  return &routes_[{listener, route, cluster}];
}

ClusterStats* WorkerStats::cluster(const std::string& name) {
  std::lock_guard lock(mu_);
  return &clusters_[name];
}

l4::StreamStats* WorkerStats::stream(const std::string& listener) {
  std::lock_guard lock(mu_);
  return &streams_[listener];
}

ListenerStats* WorkerStats::listener(const std::string& name) {
  std::lock_guard lock(mu_);
  return &listeners_[name];
}

void WorkerStats::set_endpoints(const std::string& cluster,
                                std::shared_ptr<EndpointGauges> gauges) {
  std::lock_guard lock(mu_);
  endpoints_[cluster] = std::move(gauges);
}

}  // namespace sluice::l7
