#include "l7/h2_server_codec.h"

#include <algorithm>

namespace sluice::l7 {
namespace {}  // namespace

H2ServerCodec::H2ServerCodec(std::shared_ptr<H2Stream> stream, bool tls, std::string client_subject)
    : stream_(std::move(stream)),
      tls_(tls),
      client_subject_(std::move(client_subject)),
      parser_({}) {}

H2ServerCodec::~H2ServerCodec() { stream_->finish(); }

HeadRead H2ServerCodec::parse_head(http::RequestHead* req) {
  // The head came split into fields: a swap, then the checks a parsed head gets.
  std::swap(*req, stream_->request);
  const auto pr = parser_.accept_fields(req);
  if (pr.is_error()) return HeadRead::bad(pr.status, pr.reason);
  // DATA without a content-length: a body whose length is known at the end of the stream.
  if (stream_->chunked) req->framing.body = http::BodyKind::kUntilClose;
  data_.start(req->framing.body, req->framing.content_length);
  return HeadRead::head();
}

asio::awaitable<IoResult> H2ServerCodec::receive() {
  co_return IoResult{asio::error::operation_not_supported, 0};
}

BodyRead H2ServerCodec::body_at_hand() { return data_.at_hand(*stream_); }

asio::awaitable<BodyRead> H2ServerCodec::read_body() { return data_.read(*stream_); }

bool H2ServerCodec::start_response(const http::Response& resp, bool*) {
  return stream_->submit_response(resp);
}

bool H2ServerCodec::write_now(std::string_view data, bool* ok) {
  // A copy into the connection's queue: done at once unless the client's window is full.
  std::error_code ec;
  if (!stream_->write_now(data, {}, &ec)) return false;
  *ok = !ec;
  return true;
}

asio::awaitable<IoResult> H2ServerCodec::write(std::string_view data, bool tried_now) {
  // After a write_now that took the bytes, only the wait for room in the client's window is left.
  return stream_->write(tried_now ? std::string_view() : data, {});
}

asio::awaitable<bool> H2ServerCodec::end_response(const std::vector<http::Header>& trailers) {
  stream_->end_body(trailers);
  co_return true;
}

asio::awaitable<int> H2ServerCodec::switch_protocols(const http::ResponseHead& resp) {
  co_return stream_->submit_tunnel(resp) ? 200 : 0;  // RFC 8441: the CONNECT succeeds
}

asio::awaitable<BodyRead> H2ServerCodec::read_raw() {
  data_.start(http::BodyKind::kUntilClose, 0);  // a tunnel's bytes run until the end of the stream
  return data_.read(*stream_);
}

asio::awaitable<bool> H2ServerCodec::write_raw(std::string_view data) {
  auto ec = std::get<0>(co_await stream_->write(data, {}));
  co_return !ec;
}

}  // namespace sluice::l7
