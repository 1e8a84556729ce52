#pragma once
// The DATA of one direction of an HTTP/2 stream, handed over as body pieces: what both HTTP/2
// codecs read (a request's from a client's stream, a response's from a backend's). A body with a
// content-length ends at its length (nghttp2 holds the stream to it); one without, or a
// tunnel's bytes, at the end of the stream.
#include <asio/awaitable.hpp>

#include <cstdint>

#include "core/buffer.h"
#include "http/message.h"
#include "l7/client_codec.h"
#include "l7/h2_bridge.h"

namespace sluice::l7 {

class H2DataReader {
 public:
  H2DataReader();
  // kUntilClose (or kChunked): until the end of the stream.
  void start(http::BodyKind kind, uint64_t content_length);
  http::BodyKind kind() const { return kind_; }
  // What has come already (with the HEADERS, say), without waiting: an empty piece if nothing.
  BodyRead at_hand(h2_bridge::End& end);
  // The next piece; not a coroutine itself (one frame per read, the one that reads).
  asio::awaitable<BodyRead> read(h2_bridge::End& end);

 private:
  BodyRead piece(size_t n);  // the n bytes just read into in_
  asio::awaitable<BodyRead> read_data(h2_bridge::End& end);

  core::Buffer in_;
  http::BodyKind kind_ = http::BodyKind::kNone;
  uint64_t remaining_ = 0;  // of a body with a content-length
};

}  // namespace sluice::l7
