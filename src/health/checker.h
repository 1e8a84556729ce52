#pragma once
// Active health checks: one checker for the whole process (on the main thread, not one per
// worker), probing every endpoint of every cluster that has a `health_check`. An endpoint
// changes state after `healthy` consecutive successes or `unhealthy` consecutive failures;
// each change is logged once with its reason and published to the workers as a new
// HealthStatus.
#include <asio/io_context.hpp>

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "config/config.h"
#include "health/health_status.h"

namespace sluice::health {

class HealthChecker {
 public:
  using Publish = std::function<void(std::shared_ptr<const HealthStatus>)>;

  HealthChecker(asio::io_context& io, Publish publish) : io_(io), publish_(std::move(publish)) {}
  ~HealthChecker();

  // Starts checking what `config` asks for; endpoints that were already checked keep their
  // state and counters (a reload does not make a down endpoint look healthy).
  void configure(const config::Config& config);
  void stop();

  std::shared_ptr<const HealthStatus> status() const { return status_; }
  // Checks run and failed, per cluster, for /metrics.
  struct Counts {
    uint64_t ok = 0;
    uint64_t failed = 0;
  };
  const std::map<std::string, Counts>& counts() const { return counts_; }

 private:
  struct Probe;
  void on_result(Probe& probe, bool ok, const std::string& reason);
  void publish();

  asio::io_context& io_;
  Publish publish_;
  std::map<std::string, std::shared_ptr<Probe>> probes_;  // key: cluster + " " + address
  std::shared_ptr<const HealthStatus> status_ = std::make_shared<HealthStatus>();
  std::map<std::string, Counts> counts_;
};

}  // namespace sluice::health
