#include "balance/least_conn.h"

namespace sluice::balance {

LeastConn::LeastConn(const std::vector<EndpointSpec>& eps) {
  for (const auto& e : eps) weight_.push_back(e.weight);
}

int LeastConn::pick(const PickContext& ctx) {
  const auto n = static_cast<uint32_t>(weight_.size());
  int best = -1;
  uint32_t best_active = 0;
  start_ = start_ + 1 >= n ? 0 : start_ + 1;
  for (uint32_t k = 0; k < n; ++k) {
    uint32_t i = start_ + k < n ? start_ + k : start_ + k - n;
    if (ctx.blocked(i)) continue;
    uint32_t a = ctx.active_of(i);
    if (best < 0 || less_loaded(a, weight_[i], best_active, weight_[best])) {
      best = static_cast<int>(i);
      best_active = a;
    }
  }
  return best;
}

}  // namespace sluice::balance
