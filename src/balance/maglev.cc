#include "balance/maglev.h"

#include "core/hash.h"

namespace sluice::balance {
namespace {

bool is_prime(uint64_t n) {
  if (n < 2) return false;
  for (uint64_t d = 2; d * d <= n; ++d) {
    if (n % d == 0) return false;
  }
  return true;
}

}  // namespace

uint32_t Maglev::table_size_for(size_t endpoints) {
  uint64_t m = std::max<uint64_t>(kMinTableSize, uint64_t{100} * endpoints);
  while (!is_prime(m)) ++m;
  return static_cast<uint32_t>(m);
}

Maglev::Maglev(const std::vector<EndpointSpec>& eps, std::string_view name)
    : endpoints_(static_cast<uint32_t>(eps.size())), name_(name) {
  const uint32_t m = table_size_for(eps.size());
  const auto n = eps.size();
  std::vector<uint64_t> offset(n), skip(n), next(n, 0);
  uint32_t max_weight = 0;
  for (size_t i = 0; i < n; ++i) {
    offset[i] = core::hash_bytes(eps[i].key, 0x6d61676c6576ULL) % m;
    skip[i] = core::hash_bytes(eps[i].key, 0x736b6970ULL) % (m - 1) + 1;
    max_weight = std::max(max_weight, eps[i].weight);
  }
  constexpr uint32_t kEmpty = UINT32_MAX;
  table_.assign(m, kEmpty);
  // Weighted fill: each round an endpoint earns weight/max_weight of a turn.
  std::vector<uint64_t> credit(n, 0);
  uint32_t filled = 0;
  while (filled < m) {
    for (size_t i = 0; i < n && filled < m; ++i) {
      credit[i] += eps[i].weight;
      if (credit[i] < max_weight) continue;
      credit[i] -= max_weight;
      uint64_t slot;
      do {
        slot = (offset[i] + next[i] * skip[i]) % m;
        ++next[i];
      } while (table_[slot] != kEmpty);
      table_[slot] = static_cast<uint32_t>(i);
      ++filled;
    }
  }
}

int Maglev::pick(const PickContext& ctx) {
  const auto m = static_cast<uint32_t>(table_.size());
  if ((ctx.usable || ctx.excluded.size() >= endpoints_) && all_blocked(ctx, endpoints_)) return -1;
  uint32_t slot = static_cast<uint32_t>(ctx.hash % m);
  for (uint32_t k = 0; k < m; ++k) {
    uint32_t e = table_[slot];
    if (!ctx.blocked(e)) return static_cast<int>(e);
    slot = slot + 1 == m ? 0 : slot + 1;
  }
  return -1;
}

}  // namespace sluice::balance
