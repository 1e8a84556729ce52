#pragma once
// Weighted random. Stateless, so it needs no coordination at all between workers.
#include "balance/balancer.h"
#include "balance/weighted_picker.h"

namespace sluice::balance {

class Random final : public Balancer {
 public:
  explicit Random(const std::vector<EndpointSpec>& eps) : picker_(eps) {}
  int pick(const PickContext& ctx) override { return picker_.pick(ctx.random, ctx); }
  std::string_view name() const override { return "random"; }

 private:
  WeightedPicker picker_;
};

}  // namespace sluice::balance
