#include "balance/weighted_picker.h"

#include <algorithm>

namespace sluice::balance {

WeightedPicker::WeightedPicker(const std::vector<EndpointSpec>& eps) {
  uint64_t sum = 0;
  for (const auto& e : eps) {
    weights_.push_back(e.weight);
    sum += e.weight;
    prefix_.push_back(sum);
  }
}

int WeightedPicker::pick(uint64_t bits, const PickContext& ctx) const {
  const uint64_t total = prefix_.back();
  const uint64_t r = bits % total;
  auto it = std::upper_bound(prefix_.begin(), prefix_.end(), r);
  const auto n = static_cast<uint32_t>(prefix_.size());
  auto start = static_cast<uint32_t>(it - prefix_.begin());
  for (uint32_t k = 0; k < n; ++k) {
    uint32_t i = (start + k) % n;
    if (!ctx.blocked(i)) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace sluice::balance
