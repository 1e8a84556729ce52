#include "admin/admin_server.h"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <fmt/format.h>

#include <cstring>

#include "core/buffer.h"
#include "http/request_parser.h"
#include "http/status.h"

namespace sluice::admin {
namespace {

constexpr auto kNoThrow = asio::experimental::as_tuple(asio::use_awaitable);

asio::awaitable<void> serve(asio::ip::tcp::socket socket, AdminHandler& handler) {
  core::Buffer in(4096, 16 * 1024);
  http::RequestParser parser({4096, 16 * 1024, 64});
  http::RequestHead req;
  asio::steady_timer deadline(socket.get_executor());
  deadline.expires_after(std::chrono::seconds(10));  // an admin client gets 10s to ask
  deadline.async_wait([&socket](std::error_code ec) {
    if (!ec) {
      std::error_code ignored;
      socket.close(ignored);
    }
  });
  AdminResponse response;
  while (true) {
    auto space = in.prepare(1);
    if (space.empty()) {
      response = {431, "text/plain; charset=utf-8", "request too large\n"};
      break;
    }
    auto [ec, n] =
        co_await socket.async_read_some(asio::buffer(space.data(), space.size()), kNoThrow);
    if (ec) {
      deadline.cancel();
      co_return;
    }
    in.commit(n);
    auto r = parser.parse(in.data(), &req);
    if (r.is_error()) {
      response = {r.status, "text/plain; charset=utf-8", std::string(r.reason) + "\n"};
      break;
    }
    if (r.ok()) {
      response = handler(req.method, req.path);
      break;
    }
  }
  std::string head = fmt::format(
      "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: "
      "no-store\r\nConnection: close\r\n\r\n",
      response.status, http::reason_phrase(response.status), response.content_type,
      response.body.size());
  std::array<asio::const_buffer, 2> bufs{asio::buffer(head), asio::buffer(response.body)};
  co_await asio::async_write(socket, bufs, kNoThrow);
  std::error_code ec;
  socket.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  deadline.cancel();
}

}  // namespace

std::string AdminServer::start(const core::SocketAddress& address) {
  auto ep = address.to_endpoint<asio::ip::tcp::endpoint>();
  acceptor_ = std::make_unique<asio::ip::tcp::acceptor>(io_);
  std::error_code ec;
  acceptor_->open(ep.protocol(), ec);
  if (!ec) acceptor_->set_option(asio::ip::tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_->bind(ep, ec);
  if (!ec) acceptor_->listen(128, ec);
  if (ec) return "admin listen " + address.to_string() + ": " + ec.message();
  asio::co_spawn(
      io_,
      [this]() -> asio::awaitable<void> {
        while (acceptor_ && acceptor_->is_open()) {
          auto [ec, socket] = co_await acceptor_->async_accept(kNoThrow);
          if (ec) {
            if (ec == asio::error::operation_aborted) co_return;
            continue;
          }
          asio::co_spawn(io_, serve(std::move(socket), handler_), asio::detached);
        }
      },
      asio::detached);
  return {};
}

void AdminServer::stop() {
  if (acceptor_) {
    std::error_code ec;
    acceptor_->close(ec);
  }
}

}  // namespace sluice::admin
