#pragma once
// Reads and writes on a plain TCP socket as coroutines that return an error code instead of
// throwing: the cleartext counterpart of tls_io, shared by both sides of a session.
#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>

#include <string_view>
#include <system_error>
#include <tuple>
#include <utility>

namespace sluice::l7::plain_io {

asio::awaitable<std::tuple<std::error_code, size_t>> read_some(asio::ip::tcp::socket& socket,
                                                               char* data, size_t size);
// Writes a then b, whole, in one gathered write where the socket takes it.
asio::awaitable<std::tuple<std::error_code, size_t>> write(asio::ip::tcp::socket& socket,
                                                           std::string_view a, std::string_view b);
// Writes what the socket takes of a then b now, without waiting. true: nothing is left to wait
// for (all written, or the socket failed and `*ec` says how); false: the socket is full, and a
// and b have been advanced past what it took. Most writes of a request or response fit at
// once, and then no coroutine frame, no reactor operation and no trip through the scheduler
// are needed to learn that.
bool write_now(asio::ip::tcp::socket& socket, std::string_view* a, std::string_view* b,
               std::error_code* ec);

}  // namespace sluice::l7::plain_io
