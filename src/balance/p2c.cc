#include "balance/p2c.h"

#include "balance/least_conn.h"
#include "core/hash.h"

namespace sluice::balance {

int P2c::pick(const PickContext& ctx) {
  int a = picker_.pick(ctx.random, ctx);
  if (a < 0) return -1;
  int b = picker_.pick(core::mix64(ctx.random), ctx);
  if (b == a || !ctx.active) return a;
  auto ua = static_cast<uint32_t>(a);
  auto ub = static_cast<uint32_t>(b);
  return less_loaded(ctx.active_of(ub), picker_.weight(ub), ctx.active_of(ua), picker_.weight(ua))
             ? b
             : a;
}

}  // namespace sluice::balance
