#include "balance/round_robin.h"

namespace sluice::balance {

RoundRobin::RoundRobin(const std::vector<EndpointSpec>& eps, uint64_t seed) {
  for (const auto& e : eps) {
    weight_.push_back(e.weight);
    current_.push_back(0);
    if (e.weight != eps.front().weight) uniform_ = false;
  }
  next_ = static_cast<uint32_t>(seed % eps.size());
}

int RoundRobin::pick(const PickContext& ctx) {
  const auto n = static_cast<uint32_t>(weight_.size());
  if (uniform_) {
    for (uint32_t tries = 0; tries < n; ++tries) {
      uint32_t i = next_;
      next_ = next_ + 1 == n ? 0 : next_ + 1;
      if (!ctx.blocked(i)) return static_cast<int>(i);
    }
    return -1;
  }
  int best = -1;
  int64_t total = 0;
  for (uint32_t i = 0; i < n; ++i) {
    if (ctx.blocked(i)) continue;
    current_[i] += weight_[i];
    total += weight_[i];
    if (best < 0 || current_[i] > current_[best]) best = static_cast<int>(i);
  }
  if (best >= 0) current_[best] -= total;
  return best;
}

}  // namespace sluice::balance
