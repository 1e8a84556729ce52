#include "l7/plain_io.h"

#include <asio/buffer.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <utility>

namespace sluice::l7::plain_io {
namespace {
constexpr auto kNoThrow = asio::experimental::as_tuple(asio::use_awaitable);
}

asio::awaitable<std::tuple<std::error_code, size_t>> read_some(asio::ip::tcp::socket& socket,
                                                               char* data, size_t size) {
  // Asio's own awaitable, as it is: no coroutine frame of ours per read.
  return socket.async_read_some(asio::buffer(data, size), kNoThrow);
}

asio::awaitable<std::tuple<std::error_code, size_t>> write(asio::ip::tcp::socket& socket,
                                                           std::string_view a, std::string_view b) {
  // Asio's own awaitables, as they are: no coroutine frame of ours per write. They take their
  // arguments by value (the buffer array too) when awaited.
  if (b.empty()) {
    // One buffer: Asio then calls send(), not sendmsg(), and the kernel copies in no msghdr or
    // iovec (see write_now).
    return asio::async_write(socket, asio::buffer(a.data(), a.size()), kNoThrow);
  }
  std::array<asio::const_buffer, 2> bufs{asio::buffer(a.data(), a.size()),
                                         asio::buffer(b.data(), b.size())};
  return asio::async_write(socket, bufs, kNoThrow);
}

bool write_now(asio::ip::tcp::socket& socket, std::string_view* a, std::string_view* b,
               std::error_code* ec) {
  if (a->empty()) std::swap(*a, *b);
  if (a->empty()) return true;
  const int fd = socket.native_handle();
  while (true) {
    ssize_t sent;
    if (b->empty()) {
      // One buffer: send(), not sendmsg(); the kernel then copies no msghdr and iovec in
      // (perf: sendmsg's own path was 2% of an h2c request's CPU where HAProxy's send() is 0.5%).
      sent = ::send(fd, a->data(), a->size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    } else {
      std::array<iovec, 2> iov{iovec{const_cast<char*>(a->data()), a->size()},
                               iovec{const_cast<char*>(b->data()), b->size()}};
      msghdr msg{};
      msg.msg_iov = iov.data();
      msg.msg_iovlen = iov.size();
      sent = ::sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    }
    if (sent < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
      *ec = std::error_code(errno, std::system_category());
      return true;
    }
    auto n = static_cast<size_t>(sent);
    const size_t from_a = std::min(n, a->size());
    a->remove_prefix(from_a);
    b->remove_prefix(n - from_a);
    // A short send means the socket is full: asking again now would only find it so.
    return a->empty() && b->empty();
  }
}

}  // namespace sluice::l7::plain_io
