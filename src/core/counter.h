#pragma once
// Single-writer counters: the owning worker is the only writer, so an increment is a relaxed
// load and store (no locked instruction); readers on other threads (the admin API) see a value
// that is at most a moment old.
#include <atomic>
#include <cstdint>

namespace sluice::core {

class Counter {
 public:
  void add(uint64_t n = 1) {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  uint64_t get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

class Gauge {
 public:
  void inc() { v_.store(v_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed); }
  void dec() { v_.store(v_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed); }
  int64_t get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> v_{0};
};

}  // namespace sluice::core
