#pragma once
// Counters of the http tier. Each worker owns its own set and is the only writer, so an
// increment is a relaxed load and store (no locked instruction, no cache line shared between
// workers); the admin thread sums them on a scrape. The mutex guards only the maps' structure,
// which changes on a config reload, never per request.
#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "core/counter.h"
#include "l4/stream_stats.h"

namespace sluice::l7 {

using core::Counter;
using core::Gauge;

struct LatencyHistogram {
  static constexpr std::array<double, 14> kBoundsSeconds = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  std::array<Counter, kBoundsSeconds.size() + 1> buckets;  // last is +Inf
  Counter sum_micros;
  Counter count;

  void observe(uint64_t micros) {
    size_t i = 0;
    while (i < kBoundsSeconds.size() && static_cast<double>(micros) > kBoundsSeconds[i] * 1e6) ++i;
    buckets[i].add();
    sum_micros.add(micros);
    count.add();
  }
};

// Which deadline passed; counted per listener as sluice_timeouts_total{kind}.
enum class TimeoutKind : uint8_t {
  kNone,
  kRequestHead,   // request head not complete in time: 408 (slowloris)
  kKeepalive,     // idle keep-alive connection closed (normal)
  kBodyIdle,      // request body stalled: 408
  kConnect,       // upstream connect: next endpoint or 503
  kResponse,      // upstream answer (per try): retry or 504
  kClientWrite,   // client not reading the response: connection cut
  kDrain,         // shutdown closed an idle connection (normal)
  kRequestTotal,  // timeouts.request: 504 or cut
  kTunnelIdle,    // an upgraded (WebSocket) connection silent both ways: closed
  kCount
};
inline constexpr const char* kTimeoutKindNames[] = {
    "none",     "request_header", "keepalive_idle", "request_body_idle", "connect",
    "response", "client_write",   "drain",          "request",           "tunnel_idle"};

struct RouteStats {
  std::array<Counter, 6> by_class;  // index = status / 100 (0 unused)
  Counter bytes_received;           // request bodies
  Counter bytes_sent;               // response bodies
};

struct ClusterStats {
  Counter upstream_connections;  // connections opened
  Counter upstream_reused;       // requests sent on a pooled connection
  Counter connect_errors;
  Counter bad_gateway;          // 502s
  Counter unavailable;          // 503s
  Counter timeouts;             // 504s
  Counter retries;              // tries after the first
  Counter retries_over_budget;  // retries not made because the budget was spent
};

struct ListenerStats {
  Counter accepted;
  Counter rejected_connections_per_ip;  // over limits.max_connections_per_ip
  Counter rejected_rate_per_ip;         // over limits.connection_rate_per_ip
  Counter rejected_max_connections;     // over limits.max_connections
  Gauge active_connections;
  Counter tls_handshakes;          // https: completed, full or resumed
  Counter tls_resumed;             // https: of those, resumed (ticket or session cache)
  Counter tls_handshake_failures;  // https: failed or timed out
  Counter parse_errors;
  // Malformed request bodies (chunked framing): found before anything of the request went
  // upstream (the backend saw nothing), or after (that upstream connection was closed).
  Counter body_errors_before_upstream;
  Counter body_errors_after_upstream;
  std::array<Counter, 600> local_responses;  // answered by sluice itself, by status
  LatencyHistogram latency;
  std::array<Counter, static_cast<size_t>(TimeoutKind::kCount)> timeouts;
};

// Active requests per endpoint of one cluster on one worker; read by balancers and /clusters.
struct EndpointGauges {
  std::vector<std::string> addresses;
  std::unique_ptr<std::atomic<uint32_t>[]> active;
  explicit EndpointGauges(std::vector<std::string> addrs)
      : addresses(std::move(addrs)), active(new std::atomic<uint32_t>[addresses.size()]) {
    for (size_t i = 0; i < addresses.size(); ++i) active[i].store(0);
  }
};

// What the workers share about a cluster: requests in flight across the process (for the
// circuit breaker). One per cluster name for the life of the process, so a reload does not
// forget the requests still in flight.
struct ClusterShared {
  std::atomic<int64_t> requests{0};
  std::atomic<int64_t> connections{0};  // upstream connections open (in use or pooled)
  std::atomic<int64_t> pending{0};      // requests waiting for a connect
  std::atomic<uint64_t> overloaded{0};  // 503s from the breaker (any worker adds)

  static std::shared_ptr<ClusterShared> for_cluster(const std::string& name);
};

// One open upstream connection's share of ClusterShared::connections; travels with the socket
// (session <-> pool) and gives the share back when destroyed.
class ConnectionToken {
 public:
  ConnectionToken() = default;
  explicit ConnectionToken(std::shared_ptr<ClusterShared> shared) : shared_(std::move(shared)) {
    if (shared_) shared_->connections.fetch_add(1, std::memory_order_relaxed);
  }
  ConnectionToken(ConnectionToken&& o) noexcept : shared_(std::move(o.shared_)) {}
  ConnectionToken& operator=(ConnectionToken&& o) noexcept {
    if (this != &o) {
      reset();
      shared_ = std::move(o.shared_);
    }
    return *this;
  }
  ~ConnectionToken() { reset(); }
  void reset() {
    if (shared_) shared_->connections.fetch_sub(1, std::memory_order_relaxed);
    shared_.reset();
  }

 private:
  std::shared_ptr<ClusterShared> shared_;
};

class WorkerStats {
 public:
  using RouteKey = std::tuple<std::string, std::string, std::string>;  // listener, route, cluster

  RouteStats* route(const std::string& listener, const std::string& route,
                    const std::string& cluster);
  ClusterStats* cluster(const std::string& name);
  ListenerStats* listener(const std::string& name);
  l4::StreamStats* stream(const std::string& listener);
  void set_endpoints(const std::string& cluster, std::shared_ptr<EndpointGauges> gauges);

  // Calls fn under the lock; fn must not block.
  template <typename Fn>
  void visit(Fn&& fn) const {
    std::lock_guard lock(mu_);
    fn(routes_, clusters_, listeners_, endpoints_);
  }
  template <typename Fn>
  void visit_streams(Fn&& fn) const {
    std::lock_guard lock(mu_);
    fn(streams_);
  }

 private:
  mutable std::mutex mu_;
  std::map<RouteKey, RouteStats> routes_;
  std::map<std::string, ClusterStats> clusters_;
  std::map<std::string, ListenerStats> listeners_;
  std::map<std::string, l4::StreamStats> streams_;
  std::map<std::string, std::shared_ptr<EndpointGauges>> endpoints_;
};

}  // namespace sluice::l7
