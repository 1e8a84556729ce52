#pragma once
// What both HTTP/2 bridges (h2_connection: clients, h2_client: backends) do with their byte
// queues. A queue is a string and a read offset; once fully read it is emptied and its capacity
// reused.
#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cstring>
#include <string>

namespace sluice::l7::h2_bridge {

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

}  // namespace sluice::l7::h2_bridge
