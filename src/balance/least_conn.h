#pragma once
// Fewest active requests relative to weight, scanning all endpoints; ties are broken by a
// rotating start so that an idle cluster still spreads its load.
#include "balance/balancer.h"

namespace sluice::balance {

class LeastConn final : public Balancer {
 public:
  explicit LeastConn(const std::vector<EndpointSpec>& eps);
  int pick(const PickContext& ctx) override;
  std::string_view name() const override { return "least_conn"; }

 private:
  std::vector<uint32_t> weight_;
  uint32_t start_ = 0;
};

// Shared with p2c: is a (active, weight) strictly less loaded than b?
inline bool less_loaded(uint32_t active_a, uint32_t weight_a, uint32_t active_b,
                        uint32_t weight_b) {
  return uint64_t{active_a} * weight_b < uint64_t{active_b} * weight_a;
}

}  // namespace sluice::balance
