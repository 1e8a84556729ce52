#pragma once
// The backend side of an HTTP exchange: a pooled HTTP/1.1 TCP connection, or a stream on a
// shared HTTP/2 connection (h2_client.h) that speaks HTTP/1.1 bytes to the session.
#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>

#include <memory>
#include <string_view>
#include <system_error>
#include <tuple>
#include <utility>

#include "l7/h2_client.h"
#include "tls/client_context.h"

namespace sluice::l7 {

class Upstream {
 public:
  explicit Upstream(asio::io_context& io) : socket_(io) {}
  ~Upstream();
  Upstream(const Upstream&) = delete;
  Upstream& operator=(const Upstream&) = delete;
  asio::ip::tcp::socket& socket() { return socket_; }
  bool is_stream() const { return stream_ != nullptr; }
  H2UpStream* stream() const { return stream_.get(); }  // null unless is_stream()
  bool is_open() const { return stream_ ? true : socket_.is_open(); }
  bool refused() const { return stream_ && stream_->refused; }  // an HTTP/2 REFUSED_STREAM
  void attach(std::shared_ptr<H2UpStream> stream) { stream_ = std::move(stream); }

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
  void close();  // a stream not finished is reset; a socket is closed

 private:
  asio::ip::tcp::socket socket_;
  std::shared_ptr<H2UpStream> stream_;
  SSL* ssl_ = nullptr;
  bool broken_ = false;
};

}  // namespace sluice::l7
