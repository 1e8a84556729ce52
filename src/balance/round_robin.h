#pragma once
// Smooth weighted round robin (the nginx algorithm): with weights 5,1,1 the order is
// a a b a c a a, not a a a a a b c, so a heavy endpoint never gets a burst.
#include "balance/balancer.h"

namespace sluice::balance {

class RoundRobin final : public Balancer {
 public:
  explicit RoundRobin(const std::vector<EndpointSpec>& eps, uint64_t seed = 0);
  int pick(const PickContext& ctx) override;
  std::string_view name() const override { return "round_robin"; }

 private:
  std::vector<int64_t> weight_;
  std::vector<int64_t> current_;
  bool uniform_ = true;
  uint32_t next_ = 0;  // fast path when all weights are equal
};

}  // namespace sluice::balance
