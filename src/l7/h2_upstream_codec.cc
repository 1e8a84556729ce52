#include "l7/h2_upstream_codec.h"

#include <algorithm>

namespace sluice::l7 {
namespace {

asio::awaitable<IoResult> reset_now() { co_return IoResult{asio::error::connection_reset, 0}; }
asio::awaitable<BodyRead> failed_now() { co_return BodyRead::failed(); }

}  // namespace

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
  data_.start(resp->framing.body, resp->framing.content_length);
  return {Kind::kHead, false, {}};
}

BodyRead H2UpstreamCodec::body_at_hand() {
  // DATA that came with the HEADERS: a small response is often complete here.
  if (!stream_) return BodyRead::piece({});
  return data_.at_hand(*stream_);
}

asio::awaitable<BodyRead> H2UpstreamCodec::read_body() {
  if (!stream_) return failed_now();
  return data_.read(*stream_);
}

asio::awaitable<BodyRead> H2UpstreamCodec::read_raw() {
  data_.start(http::BodyKind::kUntilClose, 0);  // a tunnel's bytes run until the end of the stream
  return read_body();
}

asio::awaitable<bool> H2UpstreamCodec::write_raw(std::string_view data) {
  auto ec = std::get<0>(co_await send_body(data));
  co_return !ec;
}

}  // namespace sluice::l7
