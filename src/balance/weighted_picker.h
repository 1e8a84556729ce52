#pragma once
// Weighted random choice over prefix sums (O(log n)), with a fallback scan when the pick is
// excluded. Used by random and p2c.
#include "balance/balancer.h"

namespace sluice::balance {

class WeightedPicker {
 public:
  explicit WeightedPicker(const std::vector<EndpointSpec>& eps);
  // Uses `bits` as the randomness; returns -1 when all are blocked.
  int pick(uint64_t bits, const PickContext& ctx) const;
  uint32_t weight(size_t i) const { return weights_[i]; }
  size_t size() const { return weights_.size(); }

 private:
  std::vector<uint32_t> weights_;
  std::vector<uint64_t> prefix_;  // prefix_[i] = sum of weights [0, i]
};

}  // namespace sluice::balance
