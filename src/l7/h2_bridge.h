#pragma once
// What both HTTP/2 bridges (h2_connection: clients, h2_client: backends) do with their byte
// queues. A queue is a string and a read offset; once fully read it is emptied and its capacity
// reused.
#include <nghttp2/nghttp2.h>
#include <asio/awaitable.hpp>
#include <asio/steady_timer.hpp>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <utility>
#include <vector>

namespace sluice::l7::h2_bridge {

inline nghttp2_nv make_nv(std::string_view name, std::string_view value) {
  return {reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
          reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
          NGHTTP2_NV_FLAG_NONE};
}

// A data provider's last call: the end of the DATA, and the trailers (gRPC's grpc-status), if
// any, as a last HEADERS frame that ends the stream instead.
inline void end_data(nghttp2_session* session, int32_t id,
                     const std::vector<std::pair<std::string, std::string>>& trailers,
                     uint32_t* flags) {
  *flags |= NGHTTP2_DATA_FLAG_EOF;
  if (trailers.empty()) return;
  std::vector<nghttp2_nv> nv;
  nv.reserve(trailers.size());
  for (const auto& [name, value] : trailers) nv.push_back(make_nv(name, value));
  if (nghttp2_submit_trailer(session, id, nv.data(), nv.size()) == 0)
    *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
}

// Copies up to `size` bytes out of the queue; returns how many.
inline size_t drain(std::string& queue, size_t& read, void* out, size_t size) {
  const size_t n = std::min(size, queue.size() - read);
  std::memcpy(out, queue.data() + read, n);
  read += n;
  if (read == queue.size()) {
    queue.clear();
    read = 0;
  }
  return n;
}

// Of `n` bytes just read, those that were DATA payload still owed to the peer's window.
inline size_t credit(size_t n, size_t& unconsumed) {
  const size_t c = std::min(n, unconsumed);
  unconsumed -= c;
  return c;
}

// The body of an nghttp2 data provider: DATA from the queue, deferred while it is empty and not
// at its end. `*at_end` says the last byte has gone (the caller sets the EOF flags).
inline ssize_t provide(std::string& queue, size_t& read, bool eof, bool* deferred, uint8_t* buf,
                       size_t length, bool* at_end) {
  *at_end = false;
  if (queue.size() == read) {
    if (eof) {
      *at_end = true;
      return 0;
    }
    *deferred = true;
    return NGHTTP2_ERR_DEFERRED;
  }
  const size_t n = drain(queue, read, buf, length);
  *at_end = eof && queue.empty();
  return static_cast<ssize_t>(n);
}

// An nghttp2 data provider's read callback for either kind of stream (`S`: H2Stream, whose DATA is
// a response, or H2UpStream, a request): DATA from the stream's `out` queue, then its end, with
// the trailers as a last HEADERS frame when there are any.
template <class S>
ssize_t read_data(nghttp2_session* session, int32_t, uint8_t* buf, size_t length, uint32_t* flags,
                  nghttp2_data_source* source, void*) {
  auto* s = static_cast<S*>(source->ptr);
  bool at_end = false;
  const ssize_t n = provide(s->out, s->out_read, s->out_eof, &s->deferred, buf, length, &at_end);
  if (at_end) end_data(session, s->id, s->trailers, flags);
  if (n > 0) s->notify();  // a session waiting for room may write again
  return n;
}

// One end of a bridged stream, the side an HttpSession reads from and writes to: bytes to read
// (whose window reopens as they are read), DATA waiting for the peer's window, and the wait for
// either. H2Stream (clients) and H2UpStream (backends) are the two kinds.
class End {
 public:
  static constexpr size_t kMaxBuffered = 256 * 1024;  // DATA waiting for the peer's window

  explicit End(const asio::any_io_executor& ex)
      : wake_(ex, std::chrono::steady_clock::time_point::max()) {}
  virtual ~End() = default;

  // Reads what `in` holds; at its end, EOF; on a reset stream, connection_reset.
  asio::awaitable<std::tuple<std::error_code, size_t>> read(char* data, size_t size);
  // The same without waiting: the bytes `in` holds now (0 when there are none).
  size_t read_now(char* data, size_t size);
  // Back-pressure for writes: waits while more than kMaxBuffered bytes of `out` wait.
  asio::awaitable<std::error_code> wait_for_room();
  bool has_room() const { return out.size() - out_read <= kMaxBuffered; }
  void cancel();  // aborts a pending read or wait (a deadline fired), like a socket's cancel()
  void notify() { wake_.cancel(); }

  std::string in;
  size_t in_read = 0;
  size_t unconsumed = 0;  // DATA bytes in `in` not yet read (their window is not reopened)
  bool in_ended = false;
  bool closed = false;  // reset by either side, or the connection ended

  std::string out;
  size_t out_read = 0;
  bool out_eof = false;
  bool deferred = false;  // nghttp2 asked for data we did not have

 protected:
  virtual bool attached() const = 0;         // the connection is still there
  virtual void reopen_window(size_t n) = 0;  // `n` DATA bytes were read

 protected:
  asio::awaitable<void> wait();  // until notify() or cancel()
  bool take_cancelled() {
    const bool c = cancelled_;
    cancelled_ = false;
    return c;
  }

 private:
  asio::steady_timer wake_;
  bool waiting_ = false;
  bool cancelled_ = false;
};

}  // namespace sluice::l7::h2_bridge
