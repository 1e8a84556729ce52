#pragma once
// Non-blocking OpenSSL I/O on an Asio TCP socket, shared by both sides of a session: call
// OpenSSL, and when it asks for more bytes (WANT_READ), read what the socket has into the
// connection's BIO buffer with Asio's async_read_some; when it cannot write (WANT_WRITE), wait
// for writability. The BIO holds the records OpenSSL writes and sends them in one go at the end
// of a write, before a wait for input, and at the end of a handshake.
//
// Why our own BIO rather than OpenSSL's socket BIO: that one reads a record in two recv()s
// (header, then body) and, once the socket is drained, needs Asio's async_wait, which re-arms
// epoll (one epoll_ctl) on every wait. Here one recv takes every record that has arrived, and
// async_read_some waits without an epoll_ctl. The 16 KiB buffer exists only while it holds
// bytes (idle connections keep none).
#include <openssl/ssl.h>
#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>

#include "l7/tls_bio.h"

#include <string_view>
#include <system_error>
#include <tuple>
#include <utility>

namespace sluice::l7::tls_io {

// `*broken` is set on a fatal TLS error, after which no close_notify may be sent.
asio::awaitable<std::error_code> handshake(asio::ip::tcp::socket& socket, SSL* ssl, bool* broken);
asio::awaitable<std::tuple<std::error_code, size_t>> read_some(asio::ip::tcp::socket& socket,
                                                               SSL* ssl, char* data, size_t size,
                                                               bool* broken);
// Writes are whole: the size is that of the data unless there is an error.
asio::awaitable<std::tuple<std::error_code, size_t>> write(asio::ip::tcp::socket& socket, SSL* ssl,
                                                           std::string_view data, bool* broken);
// Writes a then b, whole (two records).
asio::awaitable<std::tuple<std::error_code, size_t>> write(asio::ip::tcp::socket& socket, SSL* ssl,
                                                           std::string_view a, std::string_view b,
                                                           bool* broken);
// Encrypts a then b and sends them if the socket takes them now, without waiting (see
// plain_io::write_now). true: done (all sent, or failed: `*ec`); false: the rest, a and b as
// advanced (maybe empty, with records held), needs write().
bool write_now(SSL* ssl, std::string_view* a, std::string_view* b, bool* broken,
               std::error_code* ec);
// Sends close_notify without waiting for the peer's (best effort on a non-blocking socket).
void shutdown(SSL* ssl, bool broken);

}  // namespace sluice::l7::tls_io
