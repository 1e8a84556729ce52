#include "l7/tls_io.h"

#include <openssl/err.h>
#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>

namespace sluice::l7::tls_io {
namespace {
constexpr auto kNoThrow = asio::experimental::as_tuple(asio::use_awaitable);

asio::awaitable<std::error_code> wait_for(asio::ip::tcp::socket& socket, SSL* ssl, int result,
                                          bool* broken) {
  const int err = SSL_get_error(ssl, result);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
    auto [ec] = co_await socket.async_wait(
        err == SSL_ERROR_WANT_READ ? asio::socket_base::wait_read : asio::socket_base::wait_write,
        kNoThrow);
    co_return ec;
  }
  ERR_clear_error();
  if (err == SSL_ERROR_ZERO_RETURN) co_return asio::error::eof;  // close_notify
  *broken = true;  // SSL_ERROR_SSL (a protocol error) or SSL_ERROR_SYSCALL (reset, EOF)
  co_return err == SSL_ERROR_SYSCALL ? asio::error::connection_reset
                                     : asio::error::make_error_code(asio::error::access_denied);
}
}  // namespace

asio::awaitable<std::error_code> handshake(asio::ip::tcp::socket& socket, SSL* ssl, bool* broken) {
  while (true) {
    ERR_clear_error();
    int rc = SSL_do_handshake(ssl);
    if (rc == 1) co_return std::error_code();
    if (auto ec = co_await wait_for(socket, ssl, rc, broken)) {
      *broken = true;
      co_return ec;
    }
  }
}

asio::awaitable<std::pair<std::error_code, size_t>> read_some(asio::ip::tcp::socket& socket,
                                                              SSL* ssl, char* data, size_t size,
                                                              bool* broken) {
  while (true) {
    size_t n = 0;
    ERR_clear_error();
    int rc = SSL_read_ex(ssl, data, size, &n);
    if (rc == 1) co_return std::pair{std::error_code(), n};
    if (auto ec = co_await wait_for(socket, ssl, rc, broken)) co_return std::pair{ec, size_t{0}};
  }
}

asio::awaitable<std::error_code> write(asio::ip::tcp::socket& socket, SSL* ssl,
                                       std::string_view data, bool* broken) {
  while (!data.empty()) {
    size_t n = 0;
    ERR_clear_error();
    int rc = SSL_write_ex(ssl, data.data(), data.size(), &n);
    if (rc == 1) {
      data.remove_prefix(n);
      continue;
    }
    if (auto ec = co_await wait_for(socket, ssl, rc, broken)) co_return ec;
  }
  co_return std::error_code();
}

void shutdown(SSL* ssl, bool broken) {
  if (!ssl || broken) return;
  ERR_clear_error();
  SSL_shutdown(ssl);
}

}  // namespace sluice::l7::tls_io
