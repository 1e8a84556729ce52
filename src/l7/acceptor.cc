#include "l7/acceptor.h"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <array>
#include <chrono>
#include <memory>

#include "core/log.h"
#include "l4/proxy_protocol.h"
#include "l7/http_session.h"
#include "l7/stream_listener.h"
#include "l7/worker.h"

namespace sluice::l7 {
namespace {

constexpr auto kNoThrow = asio::experimental::as_tuple(asio::use_awaitable);
using Protocol = config::Listener::Protocol;
using Handler = void (*)(Worker&, std::shared_ptr<WorkerView>, Accepted);

void serve_http(Worker& worker, std::shared_ptr<WorkerView>, Accepted a) {
  HttpSession::spawn(worker, std::move(a.socket), a.peer, std::move(a.listener_name),
                     std::move(a.slot));
}

void serve_tcp(Worker& worker, std::shared_ptr<WorkerView> view, Accepted a) {
  const int cluster = view->listener_cluster[a.listener_index];
  start_tcp(worker, std::move(view), std::move(a), cluster);
}

// The one table from listener protocol to handler, indexed by the enum's value. UDP listeners
// have no acceptor (l4::UdpProxy reads their socket).
constexpr std::array<Handler, 5> kHandlers = {serve_http, serve_http, serve_tcp,
                                              start_tls_passthrough, nullptr};
static_assert(static_cast<size_t>(Protocol::kHttp) == 0 &&
              static_cast<size_t>(Protocol::kHttps) == 1 &&
              static_cast<size_t>(Protocol::kTcp) == 2 &&
              static_cast<size_t>(Protocol::kTlsPassthrough) == 3 &&
              static_cast<size_t>(Protocol::kUdp) == 4);

void dispatch(Worker& worker, std::shared_ptr<WorkerView> view, Accepted a) {
  const auto protocol = view->snapshot->config->listeners[a.listener_index].protocol;
  if (Handler h = kHandlers[static_cast<size_t>(protocol)])
    h(worker, std::move(view), std::move(a));
}

// A trusted proxy's connection: its PROXY header (v1 or v2) says who the client is; the bytes
// after it are the client's.
void read_proxy_header(Worker& worker, std::shared_ptr<WorkerView> view, Accepted accepted) {
  asio::co_spawn(
      worker.io(),
      [&worker, view = std::move(view),
       a = std::move(accepted)]() mutable -> asio::awaitable<void> {
        const auto& listener = view->snapshot->config->listeners[a.listener_index];
        auto* stats = view->stream_stats[a.listener_index];
        auto timed_out = std::make_shared<bool>(false);
        asio::steady_timer timer(worker.io());
        timer.expires_after(listener.timeouts.client_hello);
        timer.async_wait([&a, timed_out](std::error_code ec) {
          if (ec) return;
          *timed_out = true;
          std::error_code ignored;
          a.socket.cancel(ignored);
        });
        std::string buffer;
        char chunk[600];
        l4::ProxyHeader header;
        while (true) {
          header = l4::parse_proxy_header(buffer);
          if (header.state != l4::ProxyHeader::State::kIncomplete) break;
          auto [ec, n] = co_await a.socket.async_read_some(asio::buffer(chunk), kNoThrow);
          if (ec) break;
          buffer.append(chunk, n);
        }
        timer.cancel();
        if (header.state != l4::ProxyHeader::State::kDone) {
          stats->bad_proxy_header.add();  // the socket closes here
          co_return;
        }
        if (!header.local) a.peer = header.source.to_endpoint<asio::ip::tcp::endpoint>();
        a.initial = buffer.substr(header.consumed);
        dispatch(worker, std::move(view), std::move(a));
      },
      asio::detached);
}

// The listener's and the client address's limits; false when the connection is refused (it is
// then closed at accept: no bytes, no session).
bool admit(const WorkerView& view, int index, const asio::ip::tcp::endpoint& peer,
           core::ClientSlot* slot) {
  auto* stats = view.listener_stats[index];
  stats->accepted.add();
  const auto& l = view.snapshot->config->listeners[index];
  auto limiter = core::ClientLimiter::for_listener(l.name);
  if (!limiter->take_listener_slot(l.limits.max_connections)) {
    stats->rejected_max_connections.add();
    return false;
  }
  auto ip = core::IpAddress::from_sockaddr(peer.data());
  const bool per_ip = l.limits.max_connections_per_ip > 0 || l.limits.connection_rate_per_ip > 0;
  core::ClientSlot taken(limiter, ip, false);
  if (per_ip) {
    auto verdict =
        limiter->admit(ip, l.limits.max_connections_per_ip, l.limits.connection_rate_per_ip,
                       std::chrono::steady_clock::now());
    if (verdict != core::ClientLimiter::Verdict::kAdmit) {
      (verdict == core::ClientLimiter::Verdict::kTooFast ? stats->rejected_rate_per_ip
                                                         : stats->rejected_connections_per_ip)
          .add();
      return false;  // `taken` gives the listener slot back
    }
    taken.counted_per_ip();
  }
  *slot = std::move(taken);
  return true;
}

}  // namespace

void accept_on(Worker& worker, asio::ip::tcp::acceptor* acceptor, std::string listener_name) {
  asio::co_spawn(
      worker.io(),
      [&worker, acceptor, name = std::move(listener_name)]() -> asio::awaitable<void> {
        asio::steady_timer backoff(worker.io());
        while (acceptor->is_open()) {
          asio::ip::tcp::endpoint peer;
          auto [ec, socket] = co_await acceptor->async_accept(peer, kNoThrow);
          if (ec) {
            if (ec == asio::error::operation_aborted || !acceptor->is_open()) co_return;
            // EMFILE and friends: log once per burst and back off instead of spinning.
            core::log_warn("listener {}: accept failed: {}", name, ec.message());
            backoff.expires_after(std::chrono::milliseconds(100));
            co_await backoff.async_wait(kNoThrow);
            continue;
          }
          const auto& view = worker.view();
          const int index = view ? view->snapshot->listener_index(name) : -1;
          Accepted a{std::move(socket), peer, index, name, {}, {}};
          if (index < 0) {  // the listener left the config: its session closes at once
            serve_http(worker, view, std::move(a));
            continue;
          }
          if (!admit(*view, index, peer, &a.slot)) continue;
          const auto& l = view->snapshot->config->listeners[index];
          if (!l.proxy_protocol_trusted.empty()) {
            // Only the listed proxies may connect, and their header says who the client is.
            const auto ip = core::IpAddress::from_sockaddr(peer.data());
            bool trusted = false;
            for (const auto& c : l.proxy_protocol_trusted) trusted = trusted || c.contains(ip);
            if (!trusted) {
              view->stream_stats[index]->untrusted_proxy_source.add();
              continue;  // closed at accept
            }
            read_proxy_header(worker, view, std::move(a));
            continue;
          }
          dispatch(worker, view, std::move(a));
        }
      },
      asio::detached);
  // The acceptor object must outlive the coroutine: the worker erases it only after close(), and
  // the coroutine returns on the aborted accept without touching it again.
}

}  // namespace sluice::l7
