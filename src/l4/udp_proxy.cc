#include "l4/udp_proxy.h"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>

#include <fmt/format.h>

#include <array>

#include <cstring>
#include "l4/proxy_protocol.h"

namespace sluice::l4 {
namespace {
constexpr auto kNoThrow = asio::experimental::as_tuple(asio::use_awaitable);
constexpr size_t kMaxDatagram = 65536;
constexpr uint32_t kMaxTries = 3;

std::string key_of(const asio::ip::udp::endpoint& ep) {
  return std::string(reinterpret_cast<const char*>(ep.data()), ep.size());
}
}  // namespace

struct UdpProxy::Session {
  explicit Session(asio::io_context& io) : upstream(io) {}
  std::string key;
  std::string ip_key;
  asio::ip::udp::endpoint client;
  core::IpAddress client_ip;
  asio::ip::udp::socket upstream;
  int endpoint = -1;
  bool one_shot = false;
  bool ended = false;
  Clock::time_point started = Clock::now();
  Clock::time_point last = Clock::now();
  uint64_t from_client = 0;
  uint64_t to_client = 0;
  std::shared_ptr<const void> keep;  // the config it started with
  std::string proxy_header;          // PROXY v2 header for this client, built once
  const config::Cluster* cluster = nullptr;
};

UdpProxy::UdpProxy(asio::io_context& io, int fd, bool v6) : io_(io), socket_(io) {
  std::error_code ec;
  socket_.assign(v6 ? asio::ip::udp::v6() : asio::ip::udp::v4(), fd, ec);
}

UdpProxy::~UdpProxy() { stop(); }

void UdpProxy::stop() {
  stopped_ = true;
  std::error_code ec;
  socket_.close(ec);
  auto all = std::move(sessions_);
  for (auto& [k, s] : all) end(s, "stopped");
}

void UdpProxy::start() {
  asio::co_spawn(
      io_,
      [self = shared_from_this()]() -> asio::awaitable<void> {
        std::array<char, kMaxDatagram> buf;
        asio::ip::udp::endpoint from;
        while (!self->stopped_) {
          auto [ec, n] =
              co_await self->socket_.async_receive_from(asio::buffer(buf), from, kNoThrow);
          if (ec) {
            if (ec == asio::error::operation_aborted || self->stopped_) co_return;
            continue;  // e.g. ICMP errors reported on the socket: keep serving
          }
          self->on_datagram(from, std::string_view(buf.data(), n));
        }
      },
      asio::detached);
}

void UdpProxy::on_datagram(const asio::ip::udp::endpoint& from, std::string_view data) {
  if (!target_.cluster) return;
  auto* stats = target_.stats;
  const bool per_packet = target_.listener->udp_session_none;
  std::string key = key_of(from);
  std::shared_ptr<Session> session;
  if (!per_packet) {
    auto it = sessions_.find(key);
    if (it != sessions_.end()) session = it->second;
  }
  if (!session) {
    const auto& limits = target_.listener->limits;
    auto ip = core::IpAddress::from_sockaddr(from.data());
    std::string ip_key(reinterpret_cast<const char*>(ip.bytes.data()), 16);
    if ((limits.max_connections > 0 && sessions_.size() >= limits.max_connections) ||
        (limits.max_connections_per_ip > 0 && per_ip_[ip_key] >= limits.max_connections_per_ip)) {
      stats->no_endpoint.add();  // refused: counted with the sessions that found no endpoint
      return;
    }
    session = std::make_shared<Session>(io_);
    session->client = from;
    session->client_ip = ip;
    session->ip_key = ip_key;
    session->one_shot = per_packet;
    session->key = per_packet ? key + "#" + std::to_string(++one_shot_serial_) : key;
    session->keep = target_.keep;
    session->cluster = target_.cluster;
    std::array<uint32_t, kMaxTries> tried{};
    uint32_t count = 0;
    while (count < kMaxTries) {
      int index = target_.pick(std::span<const uint32_t>(tried.data(), count), ip);
      if (index < 0) break;
      tried[count++] = static_cast<uint32_t>(index);
      auto ep = target_.cluster->endpoints[index].address.to_endpoint<asio::ip::udp::endpoint>();
      std::error_code ec;
      session->upstream.open(ep.protocol(), ec);
      if (!ec) session->upstream.connect(ep, ec);  // a local operation for UDP: no round trip
      if (!ec) {
        session->endpoint = index;
        break;
      }
      stats->connect_failures.add();
      session->upstream.close(ec);
    }
    if (session->endpoint < 0) {
      stats->no_endpoint.add();
      return;
    }
    sessions_[session->key] = session;
    ++per_ip_[ip_key];
    stats->connections.add();
    stats->active.inc();
    // Replies from the endpoint go back to the client from the listener's address.
    asio::co_spawn(
        io_,
        [self = shared_from_this(), session]() -> asio::awaitable<void> {
          std::array<char, kMaxDatagram> buf;
          while (!session->ended) {
            auto [ec, n] = co_await session->upstream.async_receive(asio::buffer(buf), kNoThrow);
            if (ec) {
              if (ec == asio::error::operation_aborted || session->ended) co_return;
              continue;  // ICMP port unreachable and the like: the idle timeout ends the session
            }
            session->last = Clock::now();
            session->to_client += n;
            self->target_.stats->bytes_to_client.add(n);
            std::error_code sec;
            self->socket_.send_to(asio::buffer(buf.data(), n), session->client, 0, sec);
            if (session->one_shot) {
              self->end(session, "answered");
              co_return;
            }
          }
        },
        asio::detached);
  }
  session->last = Clock::now();
  session->from_client += data.size();
  stats->bytes_from_client.add(data.size());
  std::error_code ec;
  if (session->cluster->proxy_protocol == 2) {
    // PROXY v2 over UDP: every datagram carries the header, so the backend needs no state.
    if (session->proxy_header.empty()) {
      auto local = socket_.local_endpoint(ec);
      session->proxy_header = proxy_v2_header(
          {session->client_ip, session->client.port()},
          {core::IpAddress::from_sockaddr(local.data()), local.port()}, /*udp=*/true);
    }
    std::array<asio::const_buffer, 2> parts{asio::buffer(session->proxy_header),
                                            asio::buffer(data.data(), data.size())};
    session->upstream.send(parts, 0, ec);
  } else {
    session->upstream.send(asio::buffer(data.data(), data.size()), 0, ec);
  }
}

void UdpProxy::end(const std::shared_ptr<Session>& s, const char* reason) {
  if (s->ended) return;
  s->ended = true;
  std::error_code ec;
  s->upstream.close(ec);
  sessions_.erase(s->key);
  if (auto it = per_ip_.find(s->ip_key); it != per_ip_.end() && --it->second == 0)
    per_ip_.erase(it);
  if (target_.stats) target_.stats->active.dec();
  if (target_.log && target_.listener) {
    auto ms = std::chrono::duration<double, std::milli>(Clock::now() - s->started).count();
    target_.log(fmt::format("{} udp {}:{} -> {} from_client={} to_client={} {:.3f}ms {}\n",
                            target_.listener->name, s->client.address().to_string(),
                            s->client.port(),
                            s->cluster->endpoints[s->endpoint].address.to_string(), s->from_client,
                            s->to_client, ms, reason));
  }
}

void UdpProxy::sweep(Clock::time_point now) {
  if (!target_.listener) return;
  const auto idle = target_.listener->timeouts.idle;
  std::vector<std::shared_ptr<Session>> expired;
  for (auto& [k, s] : sessions_) {
    if (now - s->last >= idle) expired.push_back(s);
  }
  for (auto& s : expired) {
    if (target_.stats) target_.stats->idle_timeouts.add();
    end(s, "idle_timeout");
  }
}

}  // namespace sluice::l4
