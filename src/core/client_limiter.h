#pragma once
// Per-client-address connection limits of one listener, shared by all workers: open
// connections per IP and a new-connection rate per IP (token bucket). Checked once per accepted
// connection, never per request; the map is sharded so that workers rarely meet on a lock.
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "core/address.h"

namespace sluice::core {

class ClientLimiter {
 public:
  enum class Verdict { kAdmit, kTooManyConnections, kTooFast };
  using Clock = std::chrono::steady_clock;

  // One per listener name for the life of the process (a reload keeps the counts).
  static std::shared_ptr<ClientLimiter> for_listener(const std::string& name);

  Verdict admit(const IpAddress& ip, uint32_t max_connections, uint32_t rate_per_second,
                Clock::time_point now);
  void release(const IpAddress& ip);

  // The listener's open connections (UDP: sessions) across all workers, so that
  // `limits.max_connections` is one number for the process, as HAProxy's maxconn is. One atomic
  // add per connection; false (and nothing taken) when the listener is full.
  bool take_listener_slot(uint32_t max_connections) {
    int64_t before = open_.fetch_add(1, std::memory_order_relaxed);
    if (max_connections > 0 && before >= max_connections) {
      open_.fetch_sub(1, std::memory_order_relaxed);
      return false;
    }
    return true;
  }
  void release_listener_slot() { open_.fetch_sub(1, std::memory_order_relaxed); }
  int64_t open() const { return open_.load(std::memory_order_relaxed); }
  void sweep(Clock::time_point now);
  size_t tracked() const;  // addresses with state, for tests and memory checks

 private:
  struct Entry {
    uint32_t connections = 0;
    double tokens = 0;
    Clock::time_point refilled{};
  };
  struct Key {
    std::array<uint8_t, 16> bytes;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const;
  };
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<Key, Entry, KeyHash> entries;
  };
  Shard& shard_of(const Key& k);
  std::array<Shard, 16> shards_;
  std::atomic<int64_t> open_{0};
};

// A connection's place in its listener's limits, given back when the connection ends: the
// listener-wide slot always, the per-IP count when that limit was checked.
class ClientSlot {
 public:
  ClientSlot() = default;
  ClientSlot(std::shared_ptr<ClientLimiter> limiter, IpAddress ip, bool counted_per_ip)
      : limiter_(std::move(limiter)), ip_(ip), counted_per_ip_(counted_per_ip) {}
  ClientSlot(ClientSlot&& o) noexcept
      : limiter_(std::move(o.limiter_)), ip_(o.ip_), counted_per_ip_(o.counted_per_ip_) {}
  ClientSlot& operator=(ClientSlot&& o) noexcept {
    if (this != &o) {
      reset();
      limiter_ = std::move(o.limiter_);
      ip_ = o.ip_;
      counted_per_ip_ = o.counted_per_ip_;
    }
    return *this;
  }
  ~ClientSlot() { reset(); }
  void counted_per_ip() { counted_per_ip_ = true; }  // admit() said yes for this connection

 private:
  void reset() {
    if (!limiter_) return;
    if (counted_per_ip_) limiter_->release(ip_);
    limiter_->release_listener_slot();
    limiter_.reset();
  }
  std::shared_ptr<ClientLimiter> limiter_;
  IpAddress ip_;
  bool counted_per_ip_ = false;
};

}  // namespace sluice::core
