#pragma once
// Renders the workers' counters, summed, in the Prometheus text exposition format (0.0.4).
#include <string>
#include <vector>

#include "l7/stats.h"

namespace sluice::admin {

struct ProcessCounters {
  uint64_t reloads_ok = 0;
  uint64_t reloads_failed = 0;
  uint64_t config_generation = 0;
};

std::string render_prometheus(const std::vector<const l7::WorkerStats*>& workers,
                              const ProcessCounters& process);

}  // namespace sluice::admin
