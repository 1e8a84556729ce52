#include "balance/ring_hash.h"

#include <algorithm>
#include <string>

#include "core/hash.h"

namespace sluice::balance {

RingHash::RingHash(const std::vector<EndpointSpec>& eps)
    : endpoints_(static_cast<uint32_t>(eps.size())) {
  uint64_t total_weight = 0;
  for (const auto& e : eps) total_weight += e.weight;
  // Enough points that the smallest-weight endpoint still has many; bounded for memory.
  uint64_t target = std::clamp<uint64_t>(total_weight * 1024, kMinRingSize, kMaxRingSize);
  ring_.reserve(target + eps.size());
  for (uint32_t i = 0; i < eps.size(); ++i) {
    uint64_t points = std::max<uint64_t>(1, target * eps[i].weight / total_weight);
    std::string key = eps[i].key + "#";
    const size_t base = key.size();
    for (uint64_t p = 0; p < points; ++p) {
      key.resize(base);
      key += std::to_string(p);
      ring_.push_back({core::hash_bytes(key), i});
    }
  }
  std::sort(ring_.begin(), ring_.end(), [](const Point& a, const Point& b) {
    return a.hash != b.hash ? a.hash < b.hash : a.endpoint < b.endpoint;
  });
}

int RingHash::pick(const PickContext& ctx) {
  if ((ctx.usable || ctx.excluded.size() >= endpoints_) && all_blocked(ctx, endpoints_)) return -1;
  auto it = std::lower_bound(ring_.begin(), ring_.end(), ctx.hash,
                             [](const Point& p, uint64_t h) { return p.hash < h; });
  size_t idx = it == ring_.end() ? 0 : static_cast<size_t>(it - ring_.begin());
  for (size_t k = 0; k < ring_.size(); ++k) {
    const auto& p = ring_[(idx + k) % ring_.size()];
    if (!ctx.blocked(p.endpoint)) return static_cast<int>(p.endpoint);
  }
  return -1;
}

}  // namespace sluice::balance
