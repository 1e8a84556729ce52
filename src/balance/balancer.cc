#include "balance/balancer.h"

#include "balance/least_conn.h"
#include "balance/maglev.h"
#include "balance/p2c.h"
#include "balance/random.h"
#include "balance/ring_hash.h"
#include "balance/round_robin.h"

namespace sluice::balance {

std::unique_ptr<Balancer> make_balancer(std::string_view kind, const std::vector<EndpointSpec>& eps,
                                        uint64_t seed) {
  if (eps.empty()) return nullptr;
  if (kind == "round_robin") return std::make_unique<RoundRobin>(eps, seed);
  if (kind == "least_conn") return std::make_unique<LeastConn>(eps);
  if (kind == "p2c") return std::make_unique<P2c>(eps);
  if (kind == "random") return std::make_unique<Random>(eps);
  if (kind == "ring_hash") return std::make_unique<RingHash>(eps);
  if (kind == "maglev") return std::make_unique<Maglev>(eps);
  // source_ip is Maglev keyed by the client address: consistent, and weight-aware.
  if (kind == "source_ip") return std::make_unique<Maglev>(eps, "source_ip");
  return nullptr;
}

bool uses_hash(std::string_view kind) {
  return kind == "ring_hash" || kind == "maglev" || kind == "source_ip";
}

}  // namespace sluice::balance
