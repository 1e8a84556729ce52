#pragma once
// The UDP proxy of the stream tier. Datagrams from one client address:port form a session bound
// to one endpoint (picked by the balancer) with its own connected upstream socket; replies go
// back to the client from the listener's socket; a session ends after `timeouts.idle` without a
// datagram either way. With `session: none` every datagram is balanced on its own (DNS), and its
// session ends with the first reply.
//
// Both directions move datagrams in batches: one recvmmsg() takes up to 32 datagrams from a
// socket, and the datagrams of one batch bound for the same socket leave in one sendmmsg(). A
// send that would block drops the datagram and counts it (UDP has no back-pressure to apply).
#include <asio/io_context.hpp>
#include <asio/ip/udp.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>

#include "config/config.h"
#include "core/address.h"
#include "core/client_limiter.h"
#include "l4/stream_stats.h"

namespace sluice::l4 {

// What the proxy needs from the current config; replaced whole on a reload.
struct UdpTarget {
  const config::Listener* listener = nullptr;
  const config::Cluster* cluster = nullptr;
  std::shared_ptr<const void> keep;  // keeps listener and cluster alive
  // Next endpoint not in `tried` for this client; -1 when none is left.
  std::function<int(std::span<const uint32_t> tried, const core::IpAddress& client)> pick;
  StreamStats* stats = nullptr;
  // Session limits (limits.max_connections, max_connections_per_ip, connection_rate_per_ip)
  // count across all workers.
  std::shared_ptr<core::ClientLimiter> limiter;
  std::function<void(std::string_view line)> log;
};

class UdpProxy : public std::enable_shared_from_this<UdpProxy> {
 public:
  using Clock = std::chrono::steady_clock;
  UdpProxy(asio::io_context& io, int fd, bool v6);
  ~UdpProxy();
  void set_target(UdpTarget target) { target_ = std::move(target); }
  void start();
  void stop();
  void sweep(Clock::time_point now);  // ends idle sessions
  size_t sessions() const { return sessions_.size(); }

 private:
  struct Session;
  struct Batch;
  void drain_listener();
  void relay_replies(Session& s);
  Session* session_for(const asio::ip::udp::endpoint& from);
  void flush_to_upstreams(Batch& batch, int count);
  void end(const std::shared_ptr<Session>& s, const char* reason);

  asio::io_context& io_;
  asio::ip::udp::socket socket_;
  UdpTarget target_;
  std::unordered_map<std::string, std::shared_ptr<Session>> sessions_;  // by client address
  std::unique_ptr<Batch> in_;                                           // datagrams from clients
  std::unique_ptr<Batch> out_;                                          // replies from endpoints
  uint64_t one_shot_serial_ = 0;
  bool stopped_ = false;
};

}  // namespace sluice::l4
