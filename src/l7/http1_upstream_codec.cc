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
    body_.start(resp->framing.body, resp->framing.content_length);
    keep_alive_ = resp->framing.keep_alive;
    return {Kind::kHead, false, {}};
  }
  return {Kind::kMore, false, {}};
}

asio::awaitable<IoResult> Http1UpstreamCodec::receive() {
  auto space = in_.prepare(1);  // never full here: parse_head says the head is too large first
  return up_.read_some(space.data(), space.size());
}

BodyRead Http1UpstreamCodec::body_at_hand() {
  if (body_.done()) return BodyRead::end();
  // A length's bytes at hand go with the head; chunks are decoded as they are read.
  if (body_.kind() != http::BodyKind::kContentLength) return BodyRead::piece({});
  const auto step = body_.step(in_.data());
  in_.consume(step.consumed);  // only the cursor moves: the view stays valid until a read
  return BodyRead::piece(step.data, body_.done());
}

asio::awaitable<BodyRead> Http1UpstreamCodec::read_body() {
  bool need_more = in_.empty();
  while (!body_.done()) {
    if (need_more) {
      auto space = in_.prepare(kIoChunk);
      auto [ec, n] = co_await up_.read_some(space.data(), space.size());
      if (ec == asio::error::eof && body_.end_of_stream()) break;  // a body until the close
      if (ec) co_return BodyRead::failed();
      in_.commit(n);
    }
    const auto step = body_.step(in_.data());
    if (step.error) co_return BodyRead::bad(step.reason);
    in_.consume(step.consumed);  // only the cursor moves: the view stays valid until a read
    if (!step.data.empty()) co_return BodyRead::piece(step.data, body_.done());
    need_more = step.consumed == 0 || in_.empty();
  }
  co_return BodyRead::end();
}

bool Http1UpstreamCodec::reusable() const {
  // Reusable only if the backend sent nothing after the response and did not ask to close.
  return keep_alive_ && body_.done() && body_.kind() != http::BodyKind::kUntilClose && in_.empty();
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
