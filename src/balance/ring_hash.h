#pragma once
// Consistent hashing on a ring (Karger et al.; the Ketama layout): each endpoint owns points
// in proportion to its weight, a key goes to the first point clockwise of its hash. Removing
// one of N endpoints moves only the keys it owned, about 1/N.
#include "balance/balancer.h"

namespace sluice::balance {

class RingHash final : public Balancer {
 public:
  static constexpr uint32_t kMinRingSize = 8192;
  static constexpr uint32_t kMaxRingSize = 1 << 22;

  explicit RingHash(const std::vector<EndpointSpec>& eps);
  int pick(const PickContext& ctx) override;
  std::string_view name() const override { return "ring_hash"; }
  size_t ring_size() const { return ring_.size(); }

 private:
  struct Point {
    uint64_t hash;
    uint32_t endpoint;
  };
  std::vector<Point> ring_;
  uint32_t endpoints_ = 0;
};

}  // namespace sluice::balance
