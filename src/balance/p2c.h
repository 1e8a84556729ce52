#pragma once
// Power of two choices: two random endpoints (weighted by their weights), the less loaded of
// the two wins. Near least_conn quality at O(1) cost, and no herd on one endpoint when
// several workers see stale counts.
#include "balance/balancer.h"
#include "balance/weighted_picker.h"

namespace sluice::balance {

class P2c final : public Balancer {
 public:
  explicit P2c(const std::vector<EndpointSpec>& eps) : picker_(eps) {}
  int pick(const PickContext& ctx) override;
  std::string_view name() const override { return "p2c"; }

 private:
  WeightedPicker picker_;
};

}  // namespace sluice::balance
