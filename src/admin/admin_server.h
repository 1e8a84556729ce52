#pragma once
// The admin listener: a small HTTP/1.1 server on the main thread (never on a worker), for
// operators and scrapers. Each request is answered and the connection closed.
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>

#include <functional>
#include <string>

#include "core/address.h"

namespace sluice::admin {

struct AdminResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

// (method, path) -> response. Supplied by the app, which owns what the admin API shows.
using AdminHandler = std::function<AdminResponse(std::string_view method, std::string_view path)>;

class AdminServer {
 public:
  AdminServer(asio::io_context& io, AdminHandler handler) : io_(io), handler_(std::move(handler)) {}
  // Binds and starts accepting; returns an error text on failure.
  std::string start(const core::SocketAddress& address);
  void stop();

 private:
  asio::io_context& io_;
  AdminHandler handler_;
  std::unique_ptr<asio::ip::tcp::acceptor> acceptor_;
};

}  // namespace sluice::admin
