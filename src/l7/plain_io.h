#pragma once
// Reads and writes on a plain TCP socket as coroutines that return an error code instead of
// throwing: the cleartext counterpart of tls_io, shared by both sides of a session.
#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>

#include <string_view>
#include <system_error>
#include <utility>

namespace sluice::l7::plain_io {

asio::awaitable<std::pair<std::error_code, size_t>> read_some(asio::ip::tcp::socket& socket,
                                                              char* data, size_t size);
// Writes a then b, whole, in one gathered write where the socket takes it.
asio::awaitable<std::error_code> write(asio::ip::tcp::socket& socket, std::string_view a,
                                       std::string_view b);

}  // namespace sluice::l7::plain_io
