#include "l7/upstream.h"

#include "l7/plain_io.h"
#include "l7/tls_io.h"

namespace sluice::l7 {
Upstream::~Upstream() {
  if (ssl_) SSL_free(ssl_);
}

asio::awaitable<std::error_code> Upstream::handshake(const tls::ClientContext& context,
                                                     const std::string& endpoint) {
  if (ssl_) SSL_free(ssl_);
  broken_ = false;
  std::error_code ec;
  socket_.non_blocking(true, ec);
  ssl_ = context.new_ssl(endpoint);
  if (ec || !ssl_ || !tls_io::attach(ssl_, socket_.native_handle())) {
    broken_ = true;
    co_return asio::error::make_error_code(asio::error::access_denied);
  }
  SSL_set_connect_state(ssl_);
  if (auto failed = co_await tls_io::handshake(socket_, ssl_, &broken_)) co_return failed;
  context.save_session(endpoint, ssl_);
  co_return std::error_code();
}

std::string_view Upstream::alpn() const {
  if (!ssl_) return {};
  const unsigned char* data = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(ssl_, &data, &len);
  return {reinterpret_cast<const char*>(data), len};
}

SSL* Upstream::release_ssl() {
  SSL* ssl = ssl_;
  ssl_ = nullptr;
  return ssl;
}

void Upstream::adopt_ssl(SSL* ssl) {
  if (ssl_) SSL_free(ssl_);
  ssl_ = ssl;
  broken_ = false;
}

asio::awaitable<std::tuple<std::error_code, size_t>> Upstream::read_some(char* data, size_t size) {
  if (ssl_) return tls_io::read_some(socket_, ssl_, data, size, &broken_);
  return plain_io::read_some(socket_, data, size);
}

asio::awaitable<std::tuple<std::error_code, size_t>> Upstream::write(std::string_view a,
                                                                     std::string_view b) {
  if (!ssl_) return plain_io::write(socket_, a, b);
  if (b.empty()) return tls_io::write(socket_, ssl_, a, &broken_);
  return tls_io::write(socket_, ssl_, a, b, &broken_);
}

void Upstream::cancel() {
  std::error_code ec;
  socket_.cancel(ec);
}

void Upstream::shutdown_send() {
  tls_io::shutdown(ssl_, broken_);
  std::error_code ec;
  socket_.shutdown(asio::socket_base::shutdown_send, ec);
}

void Upstream::close() {
  if (ssl_) {
    if (socket_.is_open()) tls_io::shutdown(ssl_, broken_);
    SSL_free(ssl_);
    ssl_ = nullptr;
  }
  std::error_code ec;
  socket_.close(ec);
}

}  // namespace sluice::l7
