#pragma once
// A backend connection as bytes: a TCP socket, with TLS for clusters that ask for it, pooled
// between requests with its TLS state. What the bytes mean is the codecs' affair
// (http1_upstream_codec.h; an HTTP/2 connection is h2_client.h).
#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>

#include <memory>
#include <string_view>
#include <system_error>
#include <tuple>
#include <utility>

#include <openssl/ssl.h>
#include "tls/client_context.h"

namespace sluice::l7 {

class Upstream {
 public:
  explicit Upstream(asio::io_context& io) : socket_(io) {}
  ~Upstream();
  Upstream(const Upstream&) = delete;
  Upstream& operator=(const Upstream&) = delete;
  asio::ip::tcp::socket& socket() { return socket_; }
  bool is_open() const { return socket_.is_open(); }

  // TLS on a connected socket (clusters with `tls:`). The session is kept for the next
  // connection to the same endpoint.
  asio::awaitable<std::error_code> handshake(const tls::ClientContext& context,
                                             const std::string& endpoint);
  // A pooled connection carries its TLS state: taken out with the socket, put back with it.
  SSL* release_ssl();
  std::string_view alpn() const;
  void adopt_ssl(SSL* ssl);

  asio::awaitable<std::tuple<std::error_code, size_t>> read_some(char* data, size_t size);
  asio::awaitable<std::tuple<std::error_code, size_t>> write(std::string_view a,
                                                             std::string_view b = {});
  void cancel();
  void shutdown_send();
  void close();

 private:
  asio::ip::tcp::socket socket_;
  SSL* ssl_ = nullptr;
  bool broken_ = false;
};

}  // namespace sluice::l7
