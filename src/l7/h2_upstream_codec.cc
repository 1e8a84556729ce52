#include "l7/h2_upstream_codec.h"

#include <algorithm>

namespace sluice::l7 {
namespace {
constexpr size_t kIoChunk = 16 * 1024;

asio::awaitable<IoResult> reset_now() { co_return IoResult{asio::error::connection_reset, 0}; }
asio::awaitable<BodyRead> end_now() { co_return BodyRead::end(); }

}  // namespace

H2UpstreamCodec::H2UpstreamCodec() : in_(kIoChunk, kIoChunk) {}

void H2UpstreamCodec::close() {
  if (!stream_) return;
  stream_->finish();
  stream_.reset();
}

asio::awaitable<IoResult> H2UpstreamCodec::send_head(const http::Request& req,
                                                     std::string_view body) {
  if (!stream_ || !stream_->submit_head(req)) co_return IoResult{asio::error::connection_reset, 0};
  if (body.empty()) co_return IoResult{};
  co_return co_await stream_->write(body, {});
}

asio::awaitable<IoResult> H2UpstreamCodec::send_body(std::string_view data) {
  if (!stream_) return reset_now();
  return stream_->write(data, {});
}

asio::awaitable<bool> H2UpstreamCodec::end_body(const std::vector<http::Header>& trailers) {
  if (!stream_) co_return false;
  stream_->end_body(trailers);
  co_return true;
}

ResponseHeadRead H2UpstreamCodec::parse_head(std::string_view method, bool,
                                             http::ResponseHead* resp) {
  using Kind = ResponseHeadRead::Kind;
  if (!stream_) return {Kind::kFailed, false, {}};
  // The head comes as fields: no bytes to parse, only a wait for them (receive()).
  if (!stream_->head_received) return {Kind::kMore, false, {}};
  stream_->response_head(method, resp);
  body_ = resp->framing.body;
  remaining_ = body_ == http::BodyKind::kContentLength ? resp->framing.content_length : 0;
  return {Kind::kHead, false, {}};
}

BodyRead H2UpstreamCodec::piece(size_t n) {
  in_.commit(n);
  auto data = in_.data();
  if (body_ != http::BodyKind::kContentLength) return BodyRead::piece(data);
  // A content-length: exactly that many bytes (nghttp2 holds the stream to it).
  data = data.substr(0, static_cast<size_t>(std::min<uint64_t>(data.size(), remaining_)));
  remaining_ -= data.size();
  return BodyRead::piece(data, remaining_ == 0);
}

BodyRead H2UpstreamCodec::body_at_hand() {
  // DATA that came with the HEADERS: a small response is often complete here.
  in_.clear();
  if (body_ == http::BodyKind::kNone) return BodyRead::end();
  if (!stream_) return BodyRead::piece({});
  auto space = in_.prepare(kIoChunk);
  return piece(stream_->read_now(space.data(), space.size()));
}

asio::awaitable<BodyRead> H2UpstreamCodec::read_body() {
  // Not a coroutine itself: one frame per read, the one that reads.
  if (body_ == http::BodyKind::kNone ||
      (body_ == http::BodyKind::kContentLength && remaining_ == 0)) {
    return end_now();
  }
  return read_data();
}

asio::awaitable<BodyRead> H2UpstreamCodec::read_data() {
  in_.clear();
  if (!stream_) co_return BodyRead::failed();
  auto space = in_.prepare(kIoChunk);
  auto [ec, n] = co_await stream_->read(space.data(), space.size());
  // The end of the stream ends a body of unknown length; one with a length ends at its length.
  if (ec == asio::error::eof && body_ != http::BodyKind::kContentLength) co_return BodyRead::end();
  if (ec) co_return BodyRead::failed();
  co_return piece(n);
}

asio::awaitable<BodyRead> H2UpstreamCodec::read_raw() {
  body_ = http::BodyKind::kUntilClose;  // a tunnel's bytes run until the end of the stream
  return read_data();
}

asio::awaitable<bool> H2UpstreamCodec::write_raw(std::string_view data) {
  auto ec = std::get<0>(co_await send_body(data));
  co_return !ec;
}

}  // namespace sluice::l7
