#pragma once
// Non-blocking OpenSSL I/O on an Asio TCP socket, shared by both sides of a session: call
// OpenSSL, and when it asks for readiness (WANT_READ / WANT_WRITE), wait for exactly that. No BIO
// pair and no extra copy: OpenSSL reads and writes the descriptor itself.
#include <openssl/ssl.h>
#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>

#include <string_view>
#include <system_error>
#include <utility>

namespace sluice::l7::tls_io {

// `*broken` is set on a fatal TLS error, after which no close_notify may be sent.
asio::awaitable<std::error_code> handshake(asio::ip::tcp::socket& socket, SSL* ssl, bool* broken);
asio::awaitable<std::pair<std::error_code, size_t>> read_some(asio::ip::tcp::socket& socket,
                                                              SSL* ssl, char* data, size_t size,
                                                              bool* broken);
asio::awaitable<std::error_code> write(asio::ip::tcp::socket& socket, SSL* ssl,
                                       std::string_view data, bool* broken);
// Sends close_notify without waiting for the peer's (best effort on a non-blocking socket).
void shutdown(SSL* ssl, bool broken);

}  // namespace sluice::l7::tls_io
