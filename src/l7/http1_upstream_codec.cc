#include "l7/http1_upstream_codec.h"

#include <algorithm>

#include "http/http1_writer.h"
#include "l7/websocket_upgrade.h"

namespace sluice::l7 {
namespace {
using namespace std::string_view_literals;

constexpr size_t kIoChunk = 16 * 1024;
constexpr size_t kMaxResponseHead = 64 * 1024;

}  // namespace

Http1UpstreamCodec::Http1UpstreamCodec(Upstream& up)
    : up_(up), in_(kIoChunk, kMaxResponseHead + 4096), parser_(kMaxResponseHead, 200) {}

void Http1UpstreamCodec::prepare(const http::Request& req) {
  const bool websocket = req.protocol == "websocket";
  head_.clear();
  http::write_request_head(req, &head_, websocket);
  chunked_request_ = req.body.kind == http::BodyLength::Kind::kUntilEnd;
  crlf_owed_ = false;
  if (websocket && !req.headers.find("sec-websocket-key")) {
    // An HTTP/2 client's handshake has no key (RFC 8441 5); the backend needs one, any nonce,
    // and its Accept goes no further than sluice.
    head_.resize(head_.size() - 2);  // before the empty line
    head_.append("Sec-WebSocket-Key: "sv).append(make_websocket_key()).append("\r\n\r\n"sv);
  }
}

asio::awaitable<IoResult> Http1UpstreamCodec::send_head(const http::Request&,
                                                        std::string_view body) {
  // Each try reads its own response from the start.
  in_.clear();
  parser_.reset();
  crlf_owed_ = false;
  if (!chunked_request_ || body.empty()) return up_.write(head_, body);
  // The first chunk goes with the head (head_ stays as it is for another try).
  frame_.assign(head_);
  char size_line[24];
  frame_.append(size_line, http::write_chunk_size(body.size(), size_line));
  crlf_owed_ = true;
  return up_.write(frame_, body);
}

asio::awaitable<IoResult> Http1UpstreamCodec::send_body(std::string_view data) {
  // Never empty (the session sends no empty piece): an empty chunk would end the body.
  if (!chunked_request_) return up_.write(data);
  frame_.clear();
  if (crlf_owed_) frame_.append("\r\n"sv);
  char size_line[24];
  frame_.append(size_line, http::write_chunk_size(data.size(), size_line));
  crlf_owed_ = true;
  return up_.write(frame_, data);
}

asio::awaitable<bool> Http1UpstreamCodec::end_body(const std::vector<http::Header>& trailers) {
  if (!chunked_request_) co_return true;  // a known length ends by itself
  frame_.clear();
  if (crlf_owed_) frame_.append("\r\n"sv);
  crlf_owed_ = false;
  frame_.append("0\r\n"sv);
  for (const auto& t : trailers)
    frame_.append(t.name).append(": "sv).append(t.value).append("\r\n"sv);
  frame_.append("\r\n"sv);
  auto ec = std::get<0>(co_await up_.write(frame_));
  co_return !ec;
}

ResponseHeadRead Http1UpstreamCodec::parse_head(std::string_view method, bool websocket,
                                                http::ResponseHead* resp) {
  using Kind = ResponseHeadRead::Kind;
  while (!in_.empty()) {
    const auto pr = parser_.parse(in_.data(), method, resp);
    if (pr.state == http::ParseResult::State::kIncomplete) {
      if (in_.size() == in_.capacity() && in_.capacity() >= in_.max_capacity())
        return {Kind::kBad, false, "response head too large"};
      break;
    }
    parser_.reset();
    if (pr.is_error()) return {Kind::kBad, false, pr.reason};
    in_.consume(pr.consumed);
    if (resp->status >= 100 && resp->status < 200) {
      if (resp->status != 101) continue;  // interim answers are not relayed (sluice sends 100)
      // Only a WebSocket handshake that was sent may switch; anything else is a protocol error.
      if (!websocket || !is_websocket_switch(*resp))
        return {Kind::kBad, false, "unexpected 101 Switching Protocols"};
      return {Kind::kSwitch, false, {}};
    }
    body_ = resp->framing.body;
    remaining_ = body_ == http::BodyKind::kContentLength ? resp->framing.content_length : 0;
    keep_alive_ = resp->framing.keep_alive;
    complete_ = body_ == http::BodyKind::kNone;
    chunked_.reset();
    return {Kind::kHead, false, {}};
  }
  return {Kind::kMore, false, {}};
}

asio::awaitable<IoResult> Http1UpstreamCodec::receive() {
  auto space = in_.prepare(1);  // never full here: parse_head says the head is too large first
  return up_.read_some(space.data(), space.size());
}

BodyRead Http1UpstreamCodec::take(size_t n) {
  // consume() only moves the cursor: the view stays valid until the next read.
  const auto data = in_.data().substr(0, n);
  in_.consume(n);
  remaining_ -= n;
  complete_ = remaining_ == 0;
  return BodyRead::piece(data, complete_);
}

BodyRead Http1UpstreamCodec::body_at_hand() {
  if (body_ == http::BodyKind::kNone) return BodyRead::end();
  if (body_ != http::BodyKind::kContentLength) return BodyRead::piece({});
  return take(static_cast<size_t>(std::min<uint64_t>(in_.size(), remaining_)));
}

asio::awaitable<bool> Http1UpstreamCodec::fill() {
  auto space = in_.prepare(kIoChunk);
  auto [ec, n] = co_await up_.read_some(space.data(), space.size());
  if (ec) co_return false;
  in_.commit(n);
  co_return true;
}

asio::awaitable<BodyRead> Http1UpstreamCodec::read_body() {
  if (complete_) co_return BodyRead::end();
  switch (body_) {
    case http::BodyKind::kNone:
      co_return BodyRead::end();
    case http::BodyKind::kContentLength:
      if (in_.empty() && !co_await fill()) co_return BodyRead::failed();
      co_return take(static_cast<size_t>(std::min<uint64_t>(in_.size(), remaining_)));
    case http::BodyKind::kUntilClose: {
      if (in_.empty()) {
        auto space = in_.prepare(kIoChunk);
        auto [ec, n] = co_await up_.read_some(space.data(), space.size());
        if (ec == asio::error::eof) {
          complete_ = true;
          co_return BodyRead::end();
        }
        if (ec) co_return BodyRead::failed();
        in_.commit(n);
      }
      const auto data = in_.data();
      in_.consume(data.size());
      co_return BodyRead::piece(data);
    }
    case http::BodyKind::kChunked:
      break;
  }
  while (true) {
    if (in_.empty() && !co_await fill()) co_return BodyRead::failed();
    const auto step = chunked_.step(in_.data());
    if (step.error) co_return BodyRead::bad(step.reason);
    in_.consume(step.consumed);
    if (step.done) complete_ = true;
    if (!step.data.empty()) co_return BodyRead::piece(step.data, step.done);
    if (step.done) co_return BodyRead::end();
    if (step.consumed == 0 && !co_await fill()) co_return BodyRead::failed();
  }
}

bool Http1UpstreamCodec::reusable() const {
  // Reusable only if the backend sent nothing after the response and did not ask to close.
  return keep_alive_ && complete_ && body_ != http::BodyKind::kUntilClose && in_.empty();
}

asio::awaitable<BodyRead> Http1UpstreamCodec::read_raw() {
  // Bytes that came after the 101 belong to the new protocol: they go first.
  if (in_.empty()) {
    auto space = in_.prepare(kIoChunk);
    auto [ec, n] = co_await up_.read_some(space.data(), space.size());
    if (ec) co_return ec == asio::error::eof ? BodyRead::end() : BodyRead::failed();
    in_.commit(n);
  }
  const auto data = in_.data();
  in_.consume(data.size());
  co_return BodyRead::piece(data);
}

asio::awaitable<bool> Http1UpstreamCodec::write_raw(std::string_view data) {
  auto ec = std::get<0>(co_await up_.write(data));
  co_return !ec;
}

}  // namespace sluice::l7
