#pragma once
// The balancer interface. Balancers are pure: they see endpoint weights, this worker's active
// request counts and a set of endpoints to skip, and return an index. A retry calls `pick`
// again with the tried endpoints excluded, which yields the next choice of the same ranking
// (the next ring point, the next Maglev slot, the next-least-loaded endpoint).
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/enum_names.h"

namespace sluice::balance {

struct EndpointSpec {
  std::string key;  // stable identity, e.g. "10.0.0.1:80"; consistent hashes hash this
  uint32_t weight = 1;
};

struct PickContext {
  uint64_t hash = 0;    // request key hash (ring_hash, maglev, source_ip)
  uint64_t random = 0;  // fresh random bits (random, p2c, tie breaks)
  // Active requests per endpoint (this worker's view), or null when the caller tracks none.
  const std::atomic<uint32_t>* active = nullptr;
  std::span<const uint32_t> excluded;  // endpoint indices that must not be picked (tried ones)
  // Per endpoint, nonzero if it may be picked (healthy); null = all may.
  const uint8_t* usable = nullptr;

  uint32_t active_of(uint32_t i) const {
    return active ? active[i].load(std::memory_order_relaxed) : 0;
  }
  // Whether endpoint i must be skipped: unhealthy, or already tried.
  bool blocked(uint32_t i) const;
};

class Balancer {
 public:
  virtual ~Balancer() = default;
  // An endpoint index, or -1 when every endpoint is excluded.
  virtual int pick(const PickContext& ctx) = 0;
  virtual std::string_view name() const = 0;
};

enum class Kind : uint8_t { kRoundRobin, kLeastConn, kP2c, kRandom, kRingHash, kMaglev, kSourceIp };
inline constexpr core::EnumName<Kind> kKindNames[] = {
    {Kind::kRoundRobin, "round_robin"}, {Kind::kLeastConn, "least_conn"}, {Kind::kP2c, "p2c"},
    {Kind::kRandom, "random"},          {Kind::kRingHash, "ring_hash"},   {Kind::kMaglev, "maglev"},
    {Kind::kSourceIp, "source_ip"}};
inline std::optional<Kind> parse_kind(std::string_view text) {
  return core::parse_enum(kKindNames, text);
}
inline std::string_view kind_name(Kind kind) { return core::enum_name(kKindNames, kind); }

// Returns null for an empty endpoint list. `seed` varies where stateful balancers start (so
// that workers do not all send their first request to endpoint 0).
std::unique_ptr<Balancer> make_balancer(Kind kind, const std::vector<EndpointSpec>& eps,
                                        uint64_t seed = 0);

// Whether a balancer of this kind uses PickContext::hash.
bool uses_hash(Kind kind);

inline bool is_excluded(std::span<const uint32_t> excluded, uint32_t index) {
  for (uint32_t e : excluded) {
    if (e == index) return true;
  }
  return false;
}

inline bool PickContext::blocked(uint32_t i) const {
  return (usable && !usable[i]) || is_excluded(excluded, i);
}

// True when every one of `n` endpoints is blocked (the hash balancers check this first so that
// their probe loops always end on a pickable endpoint).
inline bool all_blocked(const PickContext& ctx, uint32_t n) {
  for (uint32_t i = 0; i < n; ++i) {
    if (!ctx.blocked(i)) return false;
  }
  return true;
}

}  // namespace sluice::balance
