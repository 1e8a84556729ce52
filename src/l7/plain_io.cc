#include "l7/plain_io.h"

#include <asio/buffer.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <array>

namespace sluice::l7::plain_io {
namespace {
constexpr auto kNoThrow = asio::experimental::as_tuple(asio::use_awaitable);
}

asio::awaitable<std::pair<std::error_code, size_t>> read_some(asio::ip::tcp::socket& socket,
                                                              char* data, size_t size) {
  auto [ec, n] = co_await socket.async_read_some(asio::buffer(data, size), kNoThrow);
  co_return std::pair{ec, n};
}

asio::awaitable<std::error_code> write(asio::ip::tcp::socket& socket, std::string_view a,
                                       std::string_view b) {
  std::array<asio::const_buffer, 2> bufs{asio::buffer(a.data(), a.size()),
                                         asio::buffer(b.data(), b.size())};
  auto [ec, n] = co_await asio::async_write(socket, bufs, kNoThrow);
  co_return ec;
}

}  // namespace sluice::l7::plain_io
