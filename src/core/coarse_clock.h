#pragma once
// Deadlines are swept by each worker's 100 ms tick, so arming one needs no finer clock than the
// kernel's tick: CLOCK_MONOTONIC_COARSE reads a value the vDSO keeps, without the TSC read and
// scaling of CLOCK_MONOTONIC (a request arms about six deadlines). It counts from the same
// origin as std::chrono::steady_clock and lags it by at most one kernel tick (1-4 ms), so the
// two can be compared.
#include <time.h>

#include <chrono>

namespace sluice::core {

inline std::chrono::steady_clock::time_point coarse_now() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return std::chrono::steady_clock::time_point(
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(
          std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec)));
}

}  // namespace sluice::core
