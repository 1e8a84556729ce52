#include "l7/tls_io.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <sys/socket.h>
#include <asio/buffer.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>

#include <cerrno>
#include <cstring>
#include <memory>
#include <utility>

#include "core/buffer.h"

namespace sluice::l7::tls_io {
namespace {
constexpr auto kNoThrow = asio::experimental::as_tuple(asio::use_awaitable);
// A block from the thread's BlockCache: taken and given back at each wake, so it must come from
// a free list and not be zeroed (a zero-filled new[] was 6% of an HTTP/2-over-TLS request).
constexpr size_t kBufferSize = core::BlockCache::kBlockSize;

// The BIO's state: the descriptor, bytes read from it that OpenSSL has not taken yet, and
// records OpenSSL wrote that are not sent yet.
struct SocketBuffer {
  int fd = -1;
  char* data = nullptr;  // only while it holds bytes or a read is under way
  size_t begin = 0;
  size_t end = 0;
  bool eof = false;
  bool filling = false;  // an async_read_some writes into `data`
  int error = 0;         // errno of a failed read, for OpenSSL to see
  char* out = nullptr;   // only while it holds records to send
  size_t out_len = 0;
};

// Sends what `b` holds without waiting; what the socket does not take stays. false: the socket
// failed (errno says why).
bool send_held(SocketBuffer* b) {
  size_t sent = 0;
  while (sent < b->out_len) {
    ssize_t n = ::send(b->fd, b->out + sent, b->out_len - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) {
      sent += static_cast<size_t>(n);
    } else if (errno != EINTR) {
      if (errno != EAGAIN && errno != EWOULDBLOCK) return false;
      break;
    }
  }
  b->out_len -= sent;
  if (b->out_len == 0) {
    core::BlockCache::release(std::exchange(b->out, nullptr), kBufferSize);
  } else if (sent > 0) {
    std::memmove(b->out, b->out + sent, b->out_len);
  }
  return true;
}

// Records are held and sent together at the points tls_io chooses (the end of a write, before
// waiting to read, the end of a handshake): a flight of handshake messages, or both session
// tickets, leave in one send instead of one each, and the peer wakes once.
int buffer_write(BIO* bio, const char* in, int len) {
  auto* b = static_cast<SocketBuffer*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  const auto n = static_cast<size_t>(len);
  if (b->out_len + n > kBufferSize) {
    if (!send_held(b)) return -1;
    if (b->out_len > 0) {  // the socket is full: OpenSSL says WANT_WRITE, and we wait for room
      BIO_set_retry_write(bio);
      return -1;
    }
    if (n > kBufferSize) {  // larger than the hold: straight out
      ssize_t sent = ::send(b->fd, in, n, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (sent >= 0) return static_cast<int>(sent);
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) BIO_set_retry_write(bio);
      return -1;
    }
  }
  if (!b->out) b->out = core::BlockCache::allocate(kBufferSize);
  std::memcpy(b->out + b->out_len, in, n);
  b->out_len += n;
  return len;
}

int buffer_read(BIO* bio, char* out, int len) {
  auto* b = static_cast<SocketBuffer*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  if (b->begin < b->end) {
    size_t n = std::min(b->end - b->begin, static_cast<size_t>(len));
    std::memcpy(out, b->data + b->begin, n);
    b->begin += n;
    if (b->begin == b->end && !b->filling) {
      b->begin = b->end = 0;
      core::BlockCache::release(std::exchange(b->data, nullptr), kBufferSize);
    }
    return static_cast<int>(n);
  }
  if (b->eof) return 0;
  if (b->error) {
    errno = b->error;
    return -1;
  }
  BIO_set_retry_read(bio);
  return -1;
}

long buffer_ctrl(BIO* bio, int cmd, long, void* ptr) {
  auto* b = static_cast<SocketBuffer*>(BIO_get_data(bio));
  switch (cmd) {
    case BIO_CTRL_FLUSH:
      return 1;  // sent at tls_io's own points, so that what OpenSSL flushes can be joined
    case BIO_CTRL_WPENDING:
      return static_cast<long>(b->out_len);
    case BIO_CTRL_PENDING:
      return static_cast<long>(b->end - b->begin);
    case BIO_CTRL_EOF:
      return b->eof && b->begin == b->end ? 1 : 0;
    case BIO_C_GET_FD:
      if (ptr) *static_cast<int*>(ptr) = b->fd;
      return b->fd;
    default:
      return 0;
  }
}

int buffer_destroy(BIO* bio) {
  auto* b = static_cast<SocketBuffer*>(BIO_get_data(bio));
  if (b) {
    core::BlockCache::release(b->data, kBufferSize);
    core::BlockCache::release(b->out, kBufferSize);
  }
  delete b;
  BIO_set_data(bio, nullptr);
  return 1;
}

struct Method {
  int type;
  BIO_METHOD* method;
};

const Method& buffer_method() {
  static const Method method = [] {
    const int type = BIO_get_new_index() | BIO_TYPE_SOURCE_SINK;
    BIO_METHOD* m = BIO_meth_new(type, "sluice socket");
    BIO_meth_set_write(m, buffer_write);
    BIO_meth_set_read(m, buffer_read);
    BIO_meth_set_ctrl(m, buffer_ctrl);
    BIO_meth_set_destroy(m, buffer_destroy);
    return Method{type, m};
  }();
  return method;
}

SocketBuffer* buffer_of(SSL* ssl) {
  BIO* bio = SSL_get_rbio(ssl);
  if (!bio || BIO_method_type(bio) != buffer_method().type) return nullptr;
  return static_cast<SocketBuffer*>(BIO_get_data(bio));
}

// SSL_get_error needs an empty error queue; emptying it outright costs a pass over all its
// slots each call (ERR_clear_error was 2.4% of an HTTP/2-over-TLS request), so look first.
void clear_errors() {
  if (ERR_peek_error() != 0) ERR_clear_error();
}

// Sends what is held without waiting. true: nothing is left to wait for (all sent, or the
// socket failed and `*ec` says how); false: the socket is full.
bool try_flush(SSL* ssl, bool* broken, std::error_code* ec) {
  SocketBuffer* b = buffer_of(ssl);
  if (!b || b->out_len == 0) return true;
  if (!send_held(b)) {
    *broken = true;
    *ec = std::error_code(errno, std::system_category());
    return true;
  }
  return b->out_len == 0;
}

// For when try_flush found the socket full: waits for room and sends again until nothing is
// held.
asio::awaitable<std::error_code> flush_when_writable(asio::ip::tcp::socket& socket, SSL* ssl,
                                                     bool* broken) {
  std::error_code ec;
  do {
    auto [wait_ec] = co_await socket.async_wait(asio::socket_base::wait_write, kNoThrow);
    if (wait_ec) co_return wait_ec;
  } while (!try_flush(ssl, broken, &ec));
  co_return ec;
}

asio::awaitable<std::error_code> wait_for(asio::ip::tcp::socket& socket, SSL* ssl, int result,
                                          bool* broken) {
  const int err = SSL_get_error(ssl, result);
  if (err == SSL_ERROR_WANT_READ) {
    // What OpenSSL wrote (a handshake flight, tickets, a reply it owes) goes out before we wait
    // for input, but without waiting for room: a reader blocked on a peer that does not read
    // could deadlock with that peer's own blocked writes. What the socket does not take leaves
    // with the next write.
    std::error_code send_ec;
    try_flush(ssl, broken, &send_ec);
    if (send_ec) co_return send_ec;
    SocketBuffer* b = buffer_of(ssl);
    if (b && !b->filling) {
      if (!b->data) b->data = core::BlockCache::allocate(kBufferSize);
      if (b->begin == b->end) b->begin = b->end = 0;
      b->filling = true;
      auto [ec, n] = co_await socket.async_read_some(
          asio::buffer(b->data + b->end, kBufferSize - b->end), kNoThrow);
      b->filling = false;
      b->end += n;
      if (ec == asio::error::eof) {
        b->eof = true;  // OpenSSL reads 0 and decides (close_notify or not)
      } else if (ec == asio::error::operation_aborted) {
        co_return ec;
      } else if (ec) {
        b->error = ec.value();
      }
      co_return std::error_code();
    }
    // Another coroutine of this connection is reading: wake with it.
    auto [ec] = co_await socket.async_wait(asio::socket_base::wait_read, kNoThrow);
    co_return ec;
  }
  if (err == SSL_ERROR_WANT_WRITE) {
    auto [ec] = co_await socket.async_wait(asio::socket_base::wait_write, kNoThrow);
    co_return ec;
  }
  ERR_clear_error();
  // An alert OpenSSL wrote about the failure (protocol version, bad record...) is held like any
  // record: send it, best effort, so that the peer learns why.
  if (SocketBuffer* b = buffer_of(ssl)) send_held(b);
  if (err == SSL_ERROR_ZERO_RETURN) co_return asio::error::eof;  // close_notify
  *broken = true;  // SSL_ERROR_SSL (a protocol error) or SSL_ERROR_SYSCALL (reset, EOF)
  co_return err == SSL_ERROR_SYSCALL ? asio::error::connection_reset
                                     : asio::error::make_error_code(asio::error::access_denied);
}
}  // namespace

asio::awaitable<std::error_code> handshake(asio::ip::tcp::socket& socket, SSL* ssl, bool* broken) {
  while (true) {
    clear_errors();
    int rc = SSL_do_handshake(ssl);
    if (rc == 1) {
      // A client's Finished must reach the server now. A server's session tickets go now too,
      // rather than with the first response: the client takes them in while the request is
      // being proxied, instead of after the response (measured: full handshakes per second
      // with openssl s_time, whose client is the bottleneck).
      std::error_code ec;
      if (try_flush(ssl, broken, &ec)) co_return ec;
      co_return co_await flush_when_writable(socket, ssl, broken);
    }
    if (auto ec = co_await wait_for(socket, ssl, rc, broken)) {
      *broken = true;
      co_return ec;
    }
  }
}

asio::awaitable<std::tuple<std::error_code, size_t>> read_some(asio::ip::tcp::socket& socket,
                                                               SSL* ssl, char* data, size_t size,
                                                               bool* broken) {
  while (true) {
    size_t n = 0;
    clear_errors();
    int rc = SSL_read_ex(ssl, data, size, &n);
    if (rc == 1) co_return std::tuple{std::error_code(), n};
    if (auto ec = co_await wait_for(socket, ssl, rc, broken)) co_return std::tuple{ec, size_t{0}};
  }
}

asio::awaitable<std::tuple<std::error_code, size_t>> write(asio::ip::tcp::socket& socket, SSL* ssl,
                                                           std::string_view data, bool* broken) {
  const size_t size = data.size();
  while (!data.empty()) {
    size_t n = 0;
    clear_errors();
    int rc = SSL_write_ex(ssl, data.data(), data.size(), &n);
    if (rc == 1) {
      data.remove_prefix(n);
      continue;
    }
    if (auto ec = co_await wait_for(socket, ssl, rc, broken)) co_return std::tuple{ec, size_t{0}};
  }
  // Usually the socket takes it all at once, and no coroutine frame is needed to wait.
  std::error_code ec;
  if (!try_flush(ssl, broken, &ec)) ec = co_await flush_when_writable(socket, ssl, broken);
  co_return std::tuple{ec, ec ? size_t{0} : size};
}

bool write_now(SSL* ssl, std::string_view* a, std::string_view* b, bool* broken,
               std::error_code* ec) {
  for (std::string_view* data : {a, b}) {
    while (!data->empty()) {
      size_t n = 0;
      clear_errors();
      // Anything but success (the hold is full and the socket too, or an error) is left to
      // write(), which calls SSL_write again with the same bytes, as OpenSSL requires.
      if (SSL_write_ex(ssl, data->data(), data->size(), &n) != 1) return false;
      data->remove_prefix(n);
    }
  }
  return try_flush(ssl, broken, ec);
}

asio::awaitable<std::tuple<std::error_code, size_t>> write(asio::ip::tcp::socket& socket, SSL* ssl,
                                                           std::string_view a, std::string_view b,
                                                           bool* broken) {
  auto [ec, n] = co_await write(socket, ssl, a, broken);
  if (ec) co_return std::tuple{ec, size_t{0}};
  auto [ec_b, n_b] = co_await write(socket, ssl, b, broken);
  co_return std::tuple{ec_b, n + n_b};
}

bool attach(SSL* ssl, int fd) {
  BIO* bio = BIO_new(buffer_method().method);
  if (!bio) return false;
  auto* b = new SocketBuffer;
  b->fd = fd;
  BIO_set_data(bio, b);
  BIO_set_init(bio, 1);
  SSL_set_bio(ssl, bio, bio);  // one BIO both ways: SSL takes this one reference
  return true;
}

void pull(SSL* ssl) {
  SocketBuffer* b = buffer_of(ssl);
  if (!b || b->filling || b->eof) return;
  if (!b->data) b->data = core::BlockCache::allocate(kBufferSize);
  if (b->begin == b->end) b->begin = b->end = 0;
  ssize_t n = ::recv(b->fd, b->data + b->end, kBufferSize - b->end, MSG_DONTWAIT);
  if (n > 0) {
    b->end += static_cast<size_t>(n);
  } else if (n == 0) {
    b->eof = true;
  } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
    b->error = errno;
  }
  if (b->begin == b->end) {
    b->begin = b->end = 0;
    core::BlockCache::release(std::exchange(b->data, nullptr), kBufferSize);
  }
}

void shutdown(SSL* ssl, bool broken) {
  if (!ssl || broken) return;
  ERR_clear_error();
  SSL_shutdown(ssl);
  if (SocketBuffer* b = buffer_of(ssl)) send_held(b);  // close_notify, and anything still held
}

}  // namespace sluice::l7::tls_io
