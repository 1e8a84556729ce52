#pragma once
// The TCP proxy of the stream tier: one accepted connection is joined to one upstream
// connection and bytes move both ways with splice() through a pipe per direction (the data
// never enters user space). A FIN from either side is passed on as a half-close while the other
// direction keeps flowing; the connection ends when both directions have ended, on an error,
// on the idle timeout or at max_duration.
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>

#include <functional>
#include <memory>
#include <span>
#include <string>

#include "config/config.h"
#include "core/address.h"
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
  // Next endpoint not in `tried` (the balancer's ranking); -1 when none is left.
  std::function<int(std::span<const uint32_t> tried)> pick;
  // One try's result for an endpoint (outlier detection).
  std::function<void(int index, bool failed)> note;
  std::function<void(std::string_view line)> log;  // access log line, or empty
  StreamStats* stats = nullptr;
};

void spawn_tcp_proxy(asio::io_context& io, TcpJob job);

}  // namespace sluice::l4
