#pragma once
// The client's connection as bytes: a TCP socket, with TLS on top for https listeners. What the
// bytes mean is the codecs' affair (http1_server_codec.h, h2_connection.h).
// TLS runs OpenSSL directly on the non-blocking socket (SSL_read/SSL_write, waiting for
// readiness when OpenSSL asks), as HAProxy and nginx do: no BIO pair, no extra copy.
// At most one read and one write in flight (a tunnel does both at once; OpenSSL allows that on
// one thread).
#include <openssl/ssl.h>
#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <utility>

#include "tls/server_context.h"

namespace sluice::l7 {

class Downstream {
 public:
  explicit Downstream(asio::ip::tcp::socket socket) : socket_(std::move(socket)) {}
  // No connection of its own: the session of an HTTP/2 stream, whose bytes are its parent's.
  explicit Downstream(const asio::any_io_executor& ex) : socket_(ex) {}
  ~Downstream();
  Downstream(const Downstream&) = delete;
  Downstream& operator=(const Downstream&) = delete;

  asio::ip::tcp::socket& socket() { return socket_; }
  bool is_tls() const { return ssl_ != nullptr; }

  // The server side of the TLS handshake. On failure, false and a short reason in *why.
  asio::awaitable<bool> handshake(std::shared_ptr<const tls::ServerContext> context,
                                  const char** why);
  asio::awaitable<std::tuple<std::error_code, size_t>> read_some(char* data, size_t size);
  // Writes a then b, whole.
  asio::awaitable<std::tuple<std::error_code, size_t>> write(std::string_view a,
                                                             std::string_view b = {});
  // Writes what can go now without waiting: true when done (or failed: `*ec`), false when the
  // rest, a and b as advanced, needs write() (plain_io::write_now).
  bool write_now(std::string_view* a, std::string_view* b, std::error_code* ec);

  void cancel();
  void shutdown_send();  // TLS close_notify, then the TCP FIN
  void close();

  // After the handshake.
  bool resumed() const;
  std::string_view alpn() const;
  std::string_view sni() const;
  // The verified client certificate's subject (RFC 2253), empty without one.
  const std::string& client_subject() const { return client_subject_; }

 private:
  asio::ip::tcp::socket socket_;
  SSL* ssl_ = nullptr;
  std::shared_ptr<const tls::ServerContext> context_;  // outlives ssl_'s callbacks
  bool broken_ = false;  // a fatal TLS error: no close_notify may follow
  std::string client_subject_;
  // A small a and b become one buffer in scratch_ (b empty): one TLS record instead of two, or
  // one send() instead of a sendmsg().
  void join_small(std::string_view* a, std::string_view* b);
  std::string scratch_;
};

}  // namespace sluice::l7
