#pragma once
// The TCP proxy of the stream tier: one accepted connection is joined to one upstream
// connection and bytes move both ways with splice() through a pipe per direction (the data
// never enters user space). A FIN from either side is passed on as a half-close while the other
// direction keeps flowing; the connection ends when both directions have ended, on an error,
// on the idle timeout or at max_duration.
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>

#include <asio/awaitable.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "config/config.h"
#include "core/address.h"
#include "core/client_limiter.h"
#include "l4/stream_stats.h"

namespace sluice::l4 {

struct TcpJob {
  asio::ip::tcp::socket client;
  core::IpAddress client_ip;
  uint16_t client_port = 0;
  std::string client_text;  // "ip:port" for the log
  const config::Listener* listener = nullptr;
  const config::Cluster* cluster = nullptr;
  std::shared_ptr<const void> keep;  // keeps `listener` and `cluster` alive (the config view)
  core::ClientSlot slot;             // the client's place in the listener's limits
  // Next endpoint not in `tried` (the balancer's ranking); -1 when none is left.
  std::function<int(std::span<const uint32_t> tried)> pick;
  // One try's result for an endpoint (outlier detection).
  std::function<void(int index, bool failed)> note;
  std::function<void(std::string_view line)> log;  // access log line, or empty
  StreamStats* stats = nullptr;
  std::string initial;  // bytes already read from the client (a ClientHello), sent upstream first
};

// Reads the client's ClientHello (consuming it into `*buffer`, to be forwarded untouched),
// bounded in size and by `timeout`. Returns the SNI (possibly empty) or nullopt when the
// client sent no valid ClientHello in time (`*why` says what).
asio::awaitable<std::optional<std::string>> read_client_hello(asio::ip::tcp::socket& socket,
                                                              std::chrono::milliseconds timeout,
                                                              std::string* buffer,
                                                              const char** why);

void spawn_tcp_proxy(asio::io_context& io, TcpJob job);

// Applies connect, idle and max_duration deadlines to this thread's TCP sessions; the worker
// calls it from its periodic tick.
void sweep_tcp_sessions(std::chrono::steady_clock::time_point now);

}  // namespace sluice::l4
