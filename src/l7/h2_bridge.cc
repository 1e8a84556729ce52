#include "l7/h2_bridge.h"

#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>

namespace sluice::l7::h2_bridge {
namespace {
constexpr auto kNoThrow = asio::experimental::as_tuple(asio::use_awaitable);
}

asio::awaitable<void> End::wait() {
  waiting_ = true;
  co_await wake_.async_wait(kNoThrow);
  waiting_ = false;
}

void End::cancel() {
  if (!waiting_) return;  // only a pending operation is aborted
  cancelled_ = true;
  notify();
}

size_t End::read_now(char* data, size_t size) {
  if (in_read == in.size()) return 0;
  const size_t n = drain(in, in_read, data, size);
  if (size_t c = credit(n, unconsumed); c > 0 && attached()) reopen_window(c);
  return n;
}

asio::awaitable<std::tuple<std::error_code, size_t>> End::read(char* data, size_t size) {
  while (true) {
    if (cancelled_) {
      cancelled_ = false;
      co_return std::tuple{std::error_code(asio::error::operation_aborted), size_t{0}};
    }
    if (size_t n = read_now(data, size); n > 0) co_return std::tuple{std::error_code(), n};
    if (in_ended) co_return std::tuple{std::error_code(asio::error::eof), size_t{0}};
    if (closed) co_return std::tuple{std::error_code(asio::error::connection_reset), size_t{0}};
    co_await wait();
  }
}

asio::awaitable<std::error_code> End::wait_for_room() {
  while (!has_room()) {
    if (cancelled_) {
      cancelled_ = false;
      co_return asio::error::operation_aborted;
    }
    if (closed || !attached()) co_return asio::error::connection_reset;
    co_await wait();
  }
  co_return std::error_code();
}

}  // namespace sluice::l7::h2_bridge
