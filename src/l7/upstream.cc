#include "l7/upstream.h"

#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <array>

namespace sluice::l7 {
namespace {
constexpr auto kNoThrow = asio::experimental::as_tuple(asio::use_awaitable);
}

asio::awaitable<std::pair<std::error_code, size_t>> Upstream::read_some(char* data, size_t size) {
  if (stream_) co_return co_await stream_->read(data, size);
  auto [ec, n] = co_await socket_.async_read_some(asio::buffer(data, size), kNoThrow);
  co_return std::pair{ec, n};
}

asio::awaitable<std::error_code> Upstream::write(std::string_view a, std::string_view b) {
  if (stream_) co_return co_await stream_->write(a, b);
  std::array<asio::const_buffer, 2> bufs{asio::buffer(a.data(), a.size()),
                                         asio::buffer(b.data(), b.size())};
  auto [ec, n] = co_await asio::async_write(socket_, bufs, kNoThrow);
  co_return ec;
}

void Upstream::cancel() {
  if (stream_) return stream_->cancel();
  std::error_code ec;
  socket_.cancel(ec);
}

void Upstream::shutdown_send() {
  if (stream_) return;  // a tunnel over an HTTP/2 stream is not offered
  std::error_code ec;
  socket_.shutdown(asio::socket_base::shutdown_send, ec);
}

void Upstream::close() {
  if (stream_) {
    stream_->finish();
    stream_.reset();
    return;
  }
  std::error_code ec;
  socket_.close(ec);
}

}  // namespace sluice::l7
