#pragma once
// Maglev consistent hashing (Eisenbud et al., NSDI 2016, section 3.4): a lookup table of prime
// size M filled from per-endpoint permutations, so that lookups are one array read, load is
// spread within a few percent, and removing one of N endpoints remaps about 1/N of the keys.
// The same code builds the packet tier's BPF map, so its layout is a plain vector of indices.
#include "balance/balancer.h"

namespace sluice::balance {

class Maglev final : public Balancer {
 public:
  static constexpr uint32_t kMinTableSize = 65537;

  explicit Maglev(const std::vector<EndpointSpec>& eps, std::string_view name = "maglev");
  int pick(const PickContext& ctx) override;
  std::string_view name() const override { return name_; }

  const std::vector<uint32_t>& table() const { return table_; }
  // Smallest prime >= max(kMinTableSize, 100 * endpoints).
  static uint32_t table_size_for(size_t endpoints);

 private:
  std::vector<uint32_t> table_;
  uint32_t endpoints_ = 0;
  std::string_view name_;
};

}  // namespace sluice::balance
