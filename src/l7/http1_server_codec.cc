#include "l7/http1_server_codec.h"

#include <algorithm>

#include "l7/websocket_upgrade.h"

namespace sluice::l7 {
namespace {
using namespace std::string_view_literals;

constexpr size_t kIoChunk = 16 * 1024;
constexpr std::string_view kH2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// The bytes so far agree with the HTTP/2 connection preface (RFC 9113 3.4).
bool could_be_h2_preface(std::string_view in) {
  const size_t n = std::min(in.size(), kH2Preface.size());
  return kH2Preface.substr(0, n) == in.substr(0, n);
}

}  // namespace

Http1ServerCodec::Http1ServerCodec(Downstream& down)
    : down_(down), in_(kIoChunk, kIoChunk), parser_({}) {}

void Http1ServerCodec::set_limits(const http::RequestLimits& limits, size_t max_buffer) {
  parser_ = http::RequestParser(limits);
  in_.set_max_capacity(max_buffer);
}

HeadRead Http1ServerCodec::parse_head(http::RequestHead* req) {
  if (in_.empty()) return HeadRead::more();
  if (detect_h2_ && could_be_h2_preface(in_.data())) {
    if (in_.size() >= kH2Preface.size()) return HeadRead::h2_preface();
    return HeadRead::more();
  }
  const auto pr = parser_.parse(in_.data(), req);
  if (pr.state == http::ParseResult::State::kIncomplete) {
    if (in_.size() == in_.capacity() && in_.capacity() >= in_.max_capacity()) {  // full
      parser_.reset();
      return HeadRead::bad(431, "request header section too large");
    }
    return HeadRead::more();
  }
  parser_.reset();  // the next head is parsed from its start
  detect_h2_ = false;
  if (pr.is_error()) return HeadRead::bad(pr.status, pr.reason);
  head_len_ = pr.consumed;
  version_minor_ = req->version_minor;
  body_.start(req->framing.body, req->framing.content_length);
  pending_ = 0;
  expect_continue_ = req->framing.expect_continue && version_minor_ == 1;
  websocket_ = req->framing.has_upgrade && is_websocket_upgrade(*req);
  // RFC 9110 6.5.1: trailers go to an HTTP/1.1 client only when it said `TE: trailers`.
  takes_trailers_ = false;
  for (const auto& h : req->headers) {
    if (h.id == http::HeaderId::kTe && http::list_has_token(h.value, "trailers"))
      takes_trailers_ = true;
  }
  return HeadRead::head();
}

asio::awaitable<IoResult> Http1ServerCodec::receive() {
  auto space = in_.prepare(1);  // never full here: parse_head answers 431 first
  return down_.read_some(space.data(), space.size());
}

const char* Http1ServerCodec::early_body_error() const {
  if (body_.kind() != http::BodyKind::kChunked) return nullptr;
  return http::chunked_prefix_error(in_.data().substr(head_len_));
}

void Http1ServerCodec::release_head() {
  in_.consume(head_len_);
  head_len_ = 0;
}

BodyRead Http1ServerCodec::body_at_hand() {
  take_pending();
  if (body_.done()) return BodyRead::end();
  // A length's bytes at hand go with the head; chunks are decoded as they are read.
  if (body_.kind() != http::BodyKind::kContentLength) return BodyRead::piece({});
  const auto step = body_.step(in_.data());
  pending_ = step.consumed;
  return BodyRead::piece(step.data, body_.done());
}

asio::awaitable<bool> Http1ServerCodec::fill() {
  if (expect_continue_) {
    expect_continue_ = false;
    auto ec = std::get<0>(co_await down_.write("HTTP/1.1 100 Continue\r\n\r\n"sv));
    if (ec) co_return false;
  }
  auto space = in_.prepare(kIoChunk);
  auto [ec, n] = co_await down_.read_some(space.data(), space.size());
  if (ec) co_return false;
  in_.commit(n);
  co_return true;
}

asio::awaitable<BodyRead> Http1ServerCodec::read_body() {
  take_pending();
  while (!body_.done()) {
    if (in_.empty() && !co_await fill()) co_return BodyRead::failed();
    const auto step = body_.step(in_.data());
    if (step.error) co_return BodyRead::bad(step.reason);
    if (!step.data.empty()) {
      pending_ = step.consumed;  // consume() only moves the cursor: the view stays valid
      co_return BodyRead::piece(step.data, body_.done());
    }
    in_.consume(step.consumed);
    if (step.consumed == 0 && !co_await fill()) co_return BodyRead::failed();
  }
  co_return BodyRead::end();
}

bool Http1ServerCodec::start_response(const http::Response& resp, bool* close) {
  const bool until_end = resp.body.kind == http::BodyLength::Kind::kUntilEnd;
  // An HTTP/1.1 client gets a body of unknown length in chunks, an HTTP/1.0 one until the close.
  chunked_out_ = until_end && version_minor_ == 1;
  if (until_end && version_minor_ == 0) *close = true;
  http::Persistence persistence = http::Persistence::kDefault;
  if (*close) {
    persistence = http::Persistence::kClose;
  } else if (version_minor_ == 0) {
    persistence = http::Persistence::kKeepAlive;
  }
  out_.clear();
  http::write_response_head(resp, chunked_out_, persistence, &out_);
  head_pending_ = true;
  crlf_owed_ = false;
  return true;
}

asio::awaitable<IoResult> Http1ServerCodec::write(std::string_view data, bool) {
  // The head waits in out_ for the first body bytes: one write for both, and for a chunk's size
  // line with them.
  std::string_view a;
  if (head_pending_) {
    a = out_;
  } else {
    out_.clear();
  }
  if (chunked_out_ && !data.empty()) {
    if (crlf_owed_) out_.append("\r\n"sv);
    char size_line[24];
    out_.append(size_line, http::write_chunk_size(data.size(), size_line));
    a = out_;
    crlf_owed_ = true;
  }
  head_pending_ = false;
  if (a.empty()) return down_.write(data);
  return down_.write(a, data);
}

asio::awaitable<bool> Http1ServerCodec::end_response(const std::vector<http::Header>& trailers) {
  if (!head_pending_) out_.clear();
  head_pending_ = false;
  if (chunked_out_) {
    if (crlf_owed_) out_.append("\r\n"sv);
    crlf_owed_ = false;
    out_.append("0\r\n"sv);
    if (takes_trailers_) {
      for (const auto& t : trailers)
        out_.append(t.name).append(": "sv).append(t.value).append("\r\n"sv);
    }
    out_.append("\r\n"sv);
  }
  if (out_.empty()) co_return true;
  auto ec = std::get<0>(co_await down_.write(out_));
  co_return !ec;
}

asio::awaitable<int> Http1ServerCodec::switch_protocols(const http::ResponseHead& resp) {
  out_.assign("HTTP/1.1 101 Switching Protocols\r\n"sv);
  for (const auto& h : resp.headers) {
    if (http::is_hop_by_hop(h, resp.framing)) continue;
    out_.append(h.name).append(": "sv).append(h.value).append("\r\n"sv);
  }
  out_.append("Connection: upgrade\r\nUpgrade: websocket\r\n\r\n"sv);
  head_pending_ = false;
  auto ec = std::get<0>(co_await down_.write(out_));
  co_return ec ? 0 : 101;
}

asio::awaitable<BodyRead> Http1ServerCodec::read_raw() {
  // Bytes that came after the head belong to the new protocol: they go first.
  take_pending();
  if (in_.empty()) {
    auto space = in_.prepare(kIoChunk);
    auto [ec, n] = co_await down_.read_some(space.data(), space.size());
    if (ec) co_return ec == asio::error::eof ? BodyRead::end() : BodyRead::failed();
    in_.commit(n);
  }
  pending_ = in_.size();
  co_return BodyRead::piece(in_.data());
}

asio::awaitable<bool> Http1ServerCodec::write_raw(std::string_view data) {
  auto ec = std::get<0>(co_await down_.write(data));
  co_return !ec;
}

}  // namespace sluice::l7
