#pragma once
// Per-client-address connection limits of one listener, shared by all workers: open
// connections per IP and a new-connection rate per IP (token bucket). Checked once per accepted
// connection, never per request; the map is sharded so that workers rarely meet on a lock.
#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "core/address.h"

namespace sluice::l7 {

class ClientLimiter {
 public:
  enum class Verdict { kAdmit, kTooManyConnections, kTooFast };
  using Clock = std::chrono::steady_clock;

  // One per listener name for the life of the process (a reload keeps the counts).
  static std::shared_ptr<ClientLimiter> for_listener(const std::string& name);

  Verdict admit(const core::IpAddress& ip, uint32_t max_connections, uint32_t rate_per_second,
                Clock::time_point now);
  void release(const core::IpAddress& ip);
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
};

// Releases a connection's slot when the connection ends.
class ClientSlot {
 public:
  ClientSlot() = default;
  ClientSlot(std::shared_ptr<ClientLimiter> limiter, core::IpAddress ip)
      : limiter_(std::move(limiter)), ip_(ip) {}
  ClientSlot(ClientSlot&&) = default;
  ClientSlot& operator=(ClientSlot&&) = default;
  ~ClientSlot() {
    if (limiter_) limiter_->release(ip_);
  }

 private:
  std::shared_ptr<ClientLimiter> limiter_;
  core::IpAddress ip_;
};

}  // namespace sluice::l7
