#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <random>

#include "balance/balancer.h"
#include "balance/maglev.h"
#include "balance/ring_hash.h"
#include "core/hash.h"

namespace sluice::balance {
namespace {

// The tests name balancers as config does; the config reader parses the name once.
std::unique_ptr<Balancer> make_balancer(std::string_view name,
                                        const std::vector<EndpointSpec>& eps) {
  const auto kind = parse_kind(name);
  EXPECT_TRUE(kind) << name;
  return kind ? balance::make_balancer(*kind, eps) : nullptr;
}
bool uses_hash(std::string_view name) { return balance::uses_hash(*parse_kind(name)); }

TEST(BalancerKind, NamesRoundTripAndUnknownIsRefused) {
  for (const auto& [kind, name] : kKindNames) {
    EXPECT_EQ(parse_kind(name), kind);
    EXPECT_EQ(kind_name(kind), name);
  }
  EXPECT_FALSE(parse_kind("fastest"));
  EXPECT_FALSE(parse_kind("Round_Robin"));  // names are exact, as in YAML
  EXPECT_TRUE(uses_hash("maglev"));
  EXPECT_FALSE(uses_hash("least_conn"));
}

std::vector<EndpointSpec> endpoints(size_t n, std::vector<uint32_t> weights = {}) {
  std::vector<EndpointSpec> eps;
  for (size_t i = 0; i < n; ++i) {
    eps.push_back({"10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1) + ":80",
                   weights.empty() ? 1u : weights[i]});
  }
  return eps;
}

std::vector<int> counts(Balancer& b, size_t n, int picks, bool hashed) {
  std::vector<int> c(n, 0);
  std::mt19937_64 rng(42);
  for (int i = 0; i < picks; ++i) {
    PickContext ctx;
    ctx.hash = hashed ? core::mix64(static_cast<uint64_t>(i)) : 0;
    ctx.random = rng();
    int idx = b.pick(ctx);
    EXPECT_GE(idx, 0);
    ++c[idx];
  }
  return c;
}

// Every balancer spreads evenly over equal weights: within 5% of the fair share at 60k picks.
class EvenSpread : public ::testing::TestWithParam<std::string> {};

TEST_P(EvenSpread, WithinFivePercent) {
  auto eps = endpoints(6);
  auto b = make_balancer(GetParam(), eps);
  ASSERT_TRUE(b);
  auto c = counts(*b, eps.size(), 60000, uses_hash(GetParam()));
  for (size_t i = 0; i < c.size(); ++i)
    EXPECT_NEAR(c[i], 10000, 500) << GetParam() << " endpoint " << i;
}

INSTANTIATE_TEST_SUITE_P(All, EvenSpread,
                         ::testing::Values("round_robin", "least_conn", "p2c", "random",
                                           "ring_hash", "maglev", "source_ip"));

TEST(RoundRobin, SmoothWeightedOrder) {
  auto b = make_balancer("round_robin", endpoints(3, {5, 1, 1}));
  std::string order;
  for (int i = 0; i < 7; ++i) order += static_cast<char>('a' + b->pick({}));
  EXPECT_EQ(order, "aabacaa");  // the nginx sequence: no burst of five a's
}

TEST(Weights, HonouredWithinFivePercent) {
  for (const char* kind : {"round_robin", "random", "p2c", "ring_hash", "maglev"}) {
    auto eps = endpoints(3, {1, 2, 3});
    auto b = make_balancer(kind, eps);
    auto c = counts(*b, 3, 60000, uses_hash(kind));
    EXPECT_NEAR(c[0], 10000, 600) << kind;
    EXPECT_NEAR(c[1], 20000, 1000) << kind;
    EXPECT_NEAR(c[2], 30000, 1500) << kind;
  }
}

TEST(LeastConn, PicksTheLeastLoaded) {
  auto b = make_balancer("least_conn", endpoints(3));
  std::atomic<uint32_t> active[3];
  active[0] = 5;
  active[1] = 1;
  active[2] = 3;
  PickContext ctx;
  ctx.active = active;
  for (int i = 0; i < 10; ++i) EXPECT_EQ(b->pick(ctx), 1);
}

TEST(P2c, NeverPicksTheMostLoadedOfTwo) {
  auto b = make_balancer("p2c", endpoints(2));
  std::atomic<uint32_t> active[2];
  active[0] = 10;
  active[1] = 0;
  PickContext ctx;
  ctx.active = active;
  int zero = 0;
  for (int i = 0; i < 1000; ++i) {
    ctx.random = core::mix64(static_cast<uint64_t>(i));
    zero += b->pick(ctx) == 0;
  }
  // endpoint 0 only wins when both samples land on it (~1/4 of picks)
  EXPECT_LT(zero, 320);
}

TEST(Exclusion, EveryBalancerSkipsExcludedAndReportsExhaustion) {
  for (const char* kind : {"round_robin", "least_conn", "p2c", "random", "ring_hash", "maglev"}) {
    auto b = make_balancer(kind, endpoints(3));
    std::vector<uint32_t> excluded{0, 2};
    for (int i = 0; i < 50; ++i) {
      PickContext ctx;
      ctx.hash = core::mix64(static_cast<uint64_t>(i));
      ctx.random = core::mix64(static_cast<uint64_t>(i) + 99);
      ctx.excluded = excluded;
      EXPECT_EQ(b->pick(ctx), 1) << kind;
    }
    std::vector<uint32_t> all{0, 1, 2};
    PickContext ctx;
    ctx.excluded = all;
    EXPECT_EQ(b->pick(ctx), -1) << kind;
  }
}

TEST(Maglev, TableSizeIsPrimeAndAtLeast100PerEndpoint) {
  EXPECT_EQ(Maglev::table_size_for(3), 65537u);
  uint32_t m = Maglev::table_size_for(1000);
  EXPECT_GE(m, 100000u);
  for (uint32_t d = 2; d * d <= m; ++d) ASSERT_NE(m % d, 0u);
}

// Removing one of N endpoints moves about 1/N of the keys (and only keys of the removed one).
class Consistency : public ::testing::TestWithParam<std::string> {};

TEST_P(Consistency, RemovingOneOfNMovesAboutOneNth) {
  constexpr size_t kN = 10;
  auto all = endpoints(kN);
  auto fewer = all;
  fewer.erase(fewer.begin() + 4);
  auto before = make_balancer(GetParam(), all);
  auto after = make_balancer(GetParam(), fewer);
  constexpr int kKeys = 50000;
  int moved = 0;
  for (int k = 0; k < kKeys; ++k) {
    PickContext ctx;
    ctx.hash = core::mix64(static_cast<uint64_t>(k) * 7919);
    const auto& a = all[before->pick(ctx)].key;
    const auto& b = fewer[after->pick(ctx)].key;
    if (a != b) {
      ++moved;
      EXPECT_EQ(a, all[4].key) << "a key moved that did not belong to the removed endpoint";
    }
  }
  double fraction = static_cast<double>(moved) / kKeys;
  EXPECT_NEAR(fraction, 1.0 / kN, 0.03) << GetParam();
}

INSTANTIATE_TEST_SUITE_P(Hashes, Consistency, ::testing::Values("ring_hash"));

TEST(MaglevConsistency, RemovingOneOfNMovesAboutOneNth) {
  // Maglev trades perfect minimal disruption for even load: a few extra keys may move.
  constexpr size_t kN = 10;
  auto all = endpoints(kN);
  auto fewer = all;
  fewer.erase(fewer.begin() + 4);
  Maglev before(all), after(fewer);
  constexpr int kKeys = 50000;
  int moved = 0;
  for (int k = 0; k < kKeys; ++k) {
    PickContext ctx;
    ctx.hash = core::mix64(static_cast<uint64_t>(k) * 7919);
    if (all[before.pick(ctx)].key != fewer[after.pick(ctx)].key) ++moved;
  }
  double fraction = static_cast<double>(moved) / kKeys;
  EXPECT_GT(fraction, 0.08);
  EXPECT_LT(fraction, 0.14);
}

}  // namespace
}  // namespace sluice::balance

namespace sluice::balance {
namespace {

TEST(Usable, EveryBalancerSkipsUnhealthyEndpoints) {
  for (const char* kind : {"round_robin", "least_conn", "p2c", "random", "ring_hash", "maglev"}) {
    auto b = make_balancer(kind, endpoints(4));
    uint8_t usable[4] = {0, 1, 0, 1};
    std::map<int, int> seen;
    for (int i = 0; i < 400; ++i) {
      PickContext ctx;
      ctx.hash = core::mix64(static_cast<uint64_t>(i));
      ctx.random = core::mix64(static_cast<uint64_t>(i) + 7);
      ctx.usable = usable;
      ++seen[b->pick(ctx)];
    }
    EXPECT_EQ(seen.size(), 2u) << kind;
    EXPECT_GT(seen[1], 100) << kind;
    EXPECT_GT(seen[3], 100) << kind;
    // unhealthy and tried together leave nothing
    std::vector<uint32_t> tried{1, 3};
    PickContext ctx;
    ctx.usable = usable;
    ctx.excluded = tried;
    EXPECT_EQ(b->pick(ctx), -1) << kind;
  }
}

}  // namespace
}  // namespace sluice::balance

namespace sluice::balance {
namespace {

// The packet tier loads this table into BPF: every slot must name an endpoint, and the shares
// must follow the weights closely, since each slot is a share of the VIP's traffic.
TEST(Maglev, EverySlotFilledAndSharesFollowWeights) {
  std::vector<EndpointSpec> eps{{"10.0.1.2", 1}, {"10.0.2.2", 2}, {"10.0.3.2", 3}, {"10.0.4.2", 4}};
  Maglev maglev(eps);
  const auto& table = maglev.table();
  ASSERT_EQ(table.size(), 65537u);
  std::vector<uint64_t> share(eps.size(), 0);
  for (uint32_t slot : table) {
    ASSERT_LT(slot, eps.size());
    ++share[slot];
  }
  for (size_t i = 0; i < eps.size(); ++i) {
    const double expected = table.size() * eps[i].weight / 10.0;
    EXPECT_NEAR(static_cast<double>(share[i]), expected, expected * 0.01) << eps[i].key;
  }
}

TEST(Maglev, SameEndpointsSameTable) {
  // Two packet-tier nodes behind ECMP must agree on every slot.
  std::vector<EndpointSpec> eps{{"10.0.1.2", 1}, {"10.0.2.2", 1}, {"10.0.3.2", 1}};
  EXPECT_EQ(Maglev(eps).table(), Maglev(eps).table());
}

}  // namespace
}  // namespace sluice::balance
