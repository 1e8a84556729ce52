#include "balance/balancer.h"

#include "balance/least_conn.h"
#include "balance/maglev.h"
#include "balance/p2c.h"
#include "balance/random.h"
#include "balance/ring_hash.h"
#include "balance/round_robin.h"

namespace sluice::balance {

std::unique_ptr<Balancer> make_balancer(Kind kind, const std::vector<EndpointSpec>& eps,
                                        uint64_t seed) {
  if (eps.empty()) return nullptr;
  switch (kind) {
    case Kind::kRoundRobin:
      return std::make_unique<RoundRobin>(eps, seed);
    case Kind::kLeastConn:
      return std::make_unique<LeastConn>(eps);
    case Kind::kP2c:
      return std::make_unique<P2c>(eps);
    case Kind::kRandom:
      return std::make_unique<Random>(eps);
    case Kind::kRingHash:
      return std::make_unique<RingHash>(eps);
    case Kind::kMaglev:
      return std::make_unique<Maglev>(eps);
    case Kind::kSourceIp:
      // Maglev keyed by the client address: consistent, and weight-aware.
      return std::make_unique<Maglev>(eps, "source_ip");
  }
  return nullptr;
}

bool uses_hash(Kind kind) {
  return kind == Kind::kRingHash || kind == Kind::kMaglev || kind == Kind::kSourceIp;
}

}  // namespace sluice::balance
