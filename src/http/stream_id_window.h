#pragma once
// Which client stream ids an HTTP/2 server has seen, for RFC 9113 5.1.1: a client opens streams
// in increasing order, and a HEADERS frame on a lower id that it never opened is a connection
// error (PROTOCOL_ERROR). nghttp2 leaves this to the application: it cannot tell such a frame
// from trailers on a stream it has already forgotten, so it ignores both. We remember the last
// kWindow odd ids, one bit each: an id within that window is known exactly; an older one, far
// below every stream a real client still has open, is left to nghttp2.
#include <bitset>
#include <cstdint>

namespace sluice::http {

class StreamIdWindow {
 public:
  static constexpr uint32_t kWindow = 1024;  // client (odd) ids remembered

  // A HEADERS frame starts on `id` (odd, as nghttp2 has checked). False when it names a lower
  // id than one already opened, and that id was never opened itself.
  bool on_headers(int32_t id) {
    const auto n = static_cast<uint32_t>(id) >> 1;  // odd ids 1, 3, 5 ... as 0, 1, 2 ...
    if (!any_ || n > max_) {
      // Every id between the last one and this one is now closed without having been opened.
      const uint32_t from = any_ ? max_ + 1 : 0;
      if (n - from >= kWindow) {
        seen_.reset();
      } else {
        for (uint32_t i = from; i < n; ++i) seen_.reset(i % kWindow);
      }
      seen_.set(n % kWindow);
      max_ = n;
      any_ = true;
      return true;
    }
    if (max_ - n >= kWindow) return true;  // too old to know
    return seen_.test(n % kWindow);
  }

 private:
  std::bitset<kWindow> seen_;
  uint32_t max_ = 0;
  bool any_ = false;
};

}  // namespace sluice::http
