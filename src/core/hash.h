#pragma once
// Fast non-cryptographic hashing for balancers (keys are client-chosen, so the seed matters
// more than the function: callers mix in a per-process seed where flooding a bucket matters).
#include <cstdint>
#include <cstring>
#include <string_view>

namespace sluice::core {

inline uint64_t mix64(uint64_t x) {
  // splitmix64 finaliser: full avalanche, cheap.
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

inline uint64_t hash_bytes(std::string_view data, uint64_t seed = 0) {
  // 8 bytes at a time, then the tail; each word is mixed so that the result avalanches.
  uint64_t h = seed ^ (data.size() * 0x9e3779b97f4a7c15ULL);
  const char* p = data.data();
  size_t n = data.size();
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    h = mix64(h ^ w) + 0x9e3779b97f4a7c15ULL;
    p += 8;
    n -= 8;
  }
  uint64_t tail = 0;
  std::memcpy(&tail, p, n);
  return mix64(h ^ tail ^ (uint64_t{n} << 56));
}

}  // namespace sluice::core
