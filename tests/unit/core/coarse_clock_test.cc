#include "core/coarse_clock.h"

#include <gtest/gtest.h>

namespace sluice::core {
namespace {

// Deadlines armed with the coarse clock are compared with steady_clock by the worker's tick:
// the two must count from the same origin. Read between two precise readings, the coarse one
// is never later than the second, and trails the first by at most a kernel tick (the 1 s bound
// only tells a different clock apart; it does not depend on how fast this runs).
TEST(CoarseClock, ReadsTheSteadyClockAtKernelTickResolution) {
  for (int i = 0; i < 1000; ++i) {
    auto before = std::chrono::steady_clock::now();
    auto coarse = coarse_now();
    auto after = std::chrono::steady_clock::now();
    ASSERT_LE(coarse, after);
    ASSERT_GT(coarse, before - std::chrono::seconds(1));
  }
}

}  // namespace
}  // namespace sluice::core
