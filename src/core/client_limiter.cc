#include "core/client_limiter.h"

#include <map>

#include "core/hash.h"
#include "core/shared_by_name.h"

namespace sluice::core {

std::shared_ptr<ClientLimiter> ClientLimiter::for_listener(const std::string& name) {
  return shared_by_name<ClientLimiter>(name);
}

size_t ClientLimiter::KeyHash::operator()(const Key& k) const {
  return hash_bytes(std::string_view(reinterpret_cast<const char*>(k.bytes.data()), 16));
}

ClientLimiter::Shard& ClientLimiter::shard_of(const Key& k) { return shards_[KeyHash{}(k) >> 60]; }

ClientLimiter::Verdict ClientLimiter::admit(const IpAddress& ip, uint32_t max_connections,
                                            uint32_t rate_per_second, Clock::time_point now) {
  Key key{ip.bytes};
  auto& shard = shard_of(key);
  std::lock_guard lock(shard.mu);
  auto [it, inserted] = shard.entries.try_emplace(key);
  Entry& e = it->second;
  if (inserted) {
    e.tokens = rate_per_second;
    e.refilled = now;
  }
  if (max_connections > 0 && e.connections >= max_connections) return Verdict::kTooManyConnections;
  if (rate_per_second > 0) {
    double elapsed = std::chrono::duration<double>(now - e.refilled).count();
    e.tokens = std::min<double>(rate_per_second, e.tokens + elapsed * rate_per_second);
    e.refilled = now;
    if (e.tokens < 1.0) return Verdict::kTooFast;
    e.tokens -= 1.0;
  }
  ++e.connections;
  return Verdict::kAdmit;
}

void ClientLimiter::release(const IpAddress& ip) {
  Key key{ip.bytes};
  auto& shard = shard_of(key);
  std::lock_guard lock(shard.mu);
  auto it = shard.entries.find(key);
  if (it == shard.entries.end()) return;
  if (it->second.connections > 0) --it->second.connections;
}

void ClientLimiter::sweep(Clock::time_point now) {
  // An address with no connection whose bucket has had a second to refill is in the same state
  // as one never seen: forget it, so the map only holds recent clients.
  for (auto& s : shards_) {
    std::lock_guard lock(s.mu);
    std::erase_if(s.entries, [&](const auto& kv) {
      return kv.second.connections == 0 && now - kv.second.refilled >= std::chrono::seconds(1);
    });
  }
}

size_t ClientLimiter::tracked() const {
  size_t n = 0;
  for (const auto& s : shards_) {
    std::lock_guard lock(s.mu);
    n += s.entries.size();
  }
  return n;
}

}  // namespace sluice::core
