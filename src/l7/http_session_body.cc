// HttpSession's body pumps: the request body to the upstream (Content-Length, chunked, or an
// HTTP/2 stream's DATA; chunks or DATA toward the backend, trailers last), the response head
// (parsed from an HTTP/1.1 backend, taken as fields from an h2 one) and its body back to the
// client through bounded buffers.
#include <algorithm>

#include "core/coarse_clock.h"
#include "http/chunked_decoder.h"
#include "http/http1_writer.h"
#include "l7/http_session.h"
#include "l7/http_session_internal.h"
#include "l7/websocket_upgrade.h"

namespace sluice::l7 {
using namespace session;

asio::awaitable<bool> HttpSession::send_request_body(Outcome* outcome) {
  const auto& listener = view_->snapshot->config->listeners[listener_index_];
  uint64_t sent = bytes_received_;
  bool sent_continue = false;
  // Reads more body bytes from the client; on failure sets *outcome. `ended`: an HTTP/2 body
  // of unknown length, whose end is the end of its stream (EOF), which then sets *ended.
  auto read_more = [&](bool* ended = nullptr) -> asio::awaitable<bool> {
    if (req_framing_.expect_continue && !sent_continue && req_version_minor_ == 1 &&
        !down_.is_stream()) {
      sent_continue = true;
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      if (!co_await write_client(kContinue)) {
        *outcome = Outcome::kAborted;
        co_return false;
      }
    }
    auto space = in_.prepare(kIoChunk);
    arm(Deadline::kBodyIdle, listener.timeouts.request_body_idle);
    auto [ec, n] = co_await down_.read_some(space.data(), space.size());
    disarm();
    if (ec == asio::error::eof && ended) {
      *ended = true;
      co_return true;
    }
    if (ec) {
      if (client_too_slow(take_fired())) {
        local_status_ = 408;
        *outcome = Outcome::kLocalResponse;
      } else {
        local_status_ = 0;  // the client is gone; nobody to answer
        *outcome = Outcome::kAborted;
      }
      co_return false;
    }
    in_.commit(n);
    co_return true;
  };
  auto upstream_failed = [&]() {
    local_status_ = upstream_too_slow(take_fired()) ? 504 : 502;
    *outcome = Outcome::kLocalResponse;
    return false;
  };

  if (req_framing_.body == http::BodyKind::kContentLength) {
    uint64_t remaining = req_framing_.content_length - sent;
    while (remaining > 0) {
      if (in_.empty() && !co_await read_more()) co_return false;
      auto chunk =
          in_.data().substr(0, static_cast<size_t>(std::min<uint64_t>(in_.size(), remaining)));
      if (!co_await write_upstream(chunk)) co_return upstream_failed();
      in_.consume(chunk.size());
      remaining -= chunk.size();
      bytes_received_ += chunk.size();
    }
    request_body_done_ = true;
    co_return true;
  }

  // A body of unknown length: chunks for an HTTP/1.1 backend, DATA as it is for an h2 one.
  std::string pending;  // CRLF that ends the previous chunk, sent with the next write
  char size_line[24];
  auto forward = [&](std::string_view data) -> asio::awaitable<bool> {
    if (up_.is_stream()) co_return co_await write_upstream(data);
    size_t n = http::write_chunk_size(data.size(), size_line);
    pending.append(size_line, n);
    const bool ok = co_await write_upstream(pending, data);
    pending.assign("\r\n");
    co_return ok;
  };
  // The end, with the trailers: a last chunk and trailer section, or a HEADERS frame.
  auto finish = [&](const std::vector<http::Header>& trailers) -> asio::awaitable<bool> {
    request_body_done_ = true;
    if (up_.is_stream()) {
      up_.stream()->end_body(trailers);
      co_return true;
    }
    pending.append("0\r\n");
    for (const auto& t : trailers)
      pending.append(t.name).append(": ").append(t.value).append("\r\n");
    pending.append("\r\n");
    co_return co_await write_upstream(pending);
  };

  if (down_.is_stream()) {
    // HTTP/2 DATA: the bytes are the body, the end of the stream its end.
    while (true) {
      bool ended = false;
      if (in_.empty() && !co_await read_more(&ended)) co_return false;
      if (ended) break;
      bytes_received_ += in_.size();
      if (max_body_ != 0 && bytes_received_ > max_body_) {
        local_status_ = 413;
        *outcome = Outcome::kLocalResponse;
        co_return false;
      }
      if (!co_await forward(in_.data())) co_return upstream_failed();
      in_.consume(in_.size());
    }
    if (!co_await finish(down_.stream()->request_trailer_fields())) co_return upstream_failed();
    co_return true;
  }

  // Chunked: decode strictly, re-encode canonically (no extensions reach the backend).
  chunked_.reset();
  while (true) {
    if (in_.empty() && !co_await read_more()) co_return false;
    auto step = chunked_.step(in_.data());
    if (step.error) {
      // Part of the request went upstream already: the caller closes that connection (never
      // pooled, the backend may be waiting for the rest of a body that will not come).
      view_->listener_stats[listener_index_]->body_errors_after_upstream.add();
      local_status_ = 400;
      local_detail_ = step.reason;
      *outcome = Outcome::kLocalResponse;
      co_return false;
    }
    if (!step.data.empty()) {
      bytes_received_ += step.data.size();
      if (max_body_ != 0 && bytes_received_ > max_body_) {
        local_status_ = 413;
        *outcome = Outcome::kLocalResponse;
        co_return false;
      }
      if (!co_await forward(step.data)) co_return upstream_failed();
    }
    if (step.done) {
      in_.consume(step.consumed);
      if (!co_await finish(chunked_.trailer_fields())) co_return upstream_failed();
      co_return true;
    }
    if (step.consumed == 0) {
      if (!co_await read_more()) co_return false;
      continue;
    }
    in_.consume(step.consumed);
  }
}

void HttpSession::make_client_response(const http::ResponseHead& resp) {
  resp_out_.status = resp.status;
  auto& fields = resp_out_.headers.fields();
  fields.clear();
  fields.reserve(resp.headers.size() + 1);  // one allocation, on a session's first response
  for (const auto& h : resp.headers) {
    if (http::is_hop_by_hop(h, resp.framing) || h.id == http::HeaderId::kContentLength) continue;
    fields.push_back(h);
  }
  switch (resp.framing.body) {
    case http::BodyKind::kContentLength:
      resp_out_.body = http::BodyLength::known(resp.framing.content_length);
      break;
    case http::BodyKind::kNone:
      resp_out_.body = http::BodyLength::none();
      // A HEAD (or 304) answer states the length a GET would have had.
      if (resp.framing.has_content_length && resp.status != 204 && resp.status >= 200) {
        fields.push_back({"Content-Length",
                          arena_.copy(std::to_string(resp.framing.content_length)),
                          http::HeaderId::kContentLength});
      }
      break;
    default:
      resp_out_.body = http::BodyLength::until_end();
      break;
  }
}

asio::awaitable<Outcome> HttpSession::relay_response(const std::vector<int>* retry_statuses) {
  up_in_.clear();
  const auto response_timeout = response_timeout_for(*cluster_config_);
  if (up_.is_stream()) {
    // An h2 backend's head comes as fields: no bytes to parse.
    arm(Deadline::kResponse, response_timeout);
    const auto ec = co_await up_.stream()->wait_for_head();
    disarm();
    if (ec) {
      if (upstream_too_slow(take_fired())) {
        local_status_ = 504;
        co_return Outcome::kLocalResponse;
      }
      co_return Outcome::kStale;  // closed before answering
    }
    up_.stream()->response_head(method_, &resp_);
  }
  while (!up_.is_stream()) {
    resp_parser_.reset();
    http::ParseResult pr;
    arm(Deadline::kResponse, response_timeout);
    while (true) {
      if (!up_in_.empty()) {
        pr = resp_parser_.parse(up_in_.data(), method_, &resp_);
        if (pr.state != http::ParseResult::State::kIncomplete) break;
      }
      auto space = up_in_.prepare(1);
      if (space.empty()) {
        pr = http::ParseResult::error(502, "response head too large");
        break;
      }
      auto [ec, n] = co_await up_.read_some(space.data(), space.size());
      if (ec) {
        disarm();
        if (upstream_too_slow(take_fired())) {
          local_status_ = 504;
          co_return Outcome::kLocalResponse;
        }
        if (up_in_.empty()) co_return Outcome::kStale;  // closed before answering
        local_status_ = 502;
        local_detail_ = "upstream closed mid-head";
        co_return Outcome::kLocalResponse;
      }
      up_in_.commit(n);
    }
    disarm();
    if (pr.is_error()) {
      local_status_ = 502;
      local_detail_ = pr.reason;
      co_return Outcome::kLocalResponse;
    }
    if (resp_.status >= 100 && resp_.status < 200) {
      if (resp_.status == 101) {
        // Only a WebSocket handshake we forwarded may switch; anything else is a protocol error.
        if (!upgrade_ || !is_websocket_switch(resp_)) {
          local_status_ = 502;
          local_detail_ = "unexpected 101 Switching Protocols";
          co_return Outcome::kLocalResponse;
        }
        up_in_.consume(pr.consumed);
        if (down_.is_stream()) {  // RFC 8441: the client's CONNECT succeeds with a 200
          status_ = 200;
          co_return down_.submit_tunnel(resp_) ? Outcome::kUpgraded : Outcome::kAborted;
        }
        out_.assign("HTTP/1.1 101 Switching Protocols\r\n");
        for (const auto& h : resp_.headers) {
          if (http::is_hop_by_hop(h, resp_.framing)) continue;
          out_.append(h.name).append(": ").append(h.value).append("\r\n");
        }
        out_.append("Connection: upgrade\r\nUpgrade: websocket\r\n\r\n");
        status_ = 101;
        if (!co_await write_client(out_)) co_return Outcome::kAborted;
        co_return Outcome::kUpgraded;
      }
      up_in_.consume(pr.consumed);  // interim responses are not relayed (we answer 100 ourselves)
      continue;
    }
    up_in_.consume(pr.consumed);
    break;
  }

  if (retry_statuses && std::find(retry_statuses->begin(), retry_statuses->end(), resp_.status) !=
                            retry_statuses->end()) {
    // Another endpoint will be asked; this answer (and its connection) is dropped unseen.
    status_ = resp_.status;
    up_.close();
    co_return Outcome::kRetryStatus;
  }
  const auto body = resp_.framing.body;
  const bool delimited_by_chunks =
      body == http::BodyKind::kChunked || body == http::BodyKind::kUntilClose;
  // An HTTP/2 stream's DATA needs no framing; an HTTP/1.1 client gets chunks, an HTTP/1.0 one
  // the close.
  const bool chunk_to_client = delimited_by_chunks && req_version_minor_ == 1 && !down_.is_stream();
  if (delimited_by_chunks && req_version_minor_ == 0) client_keep_alive_ = false;
  if (worker_.draining()) client_keep_alive_ = false;
  if (!request_body_done_) client_keep_alive_ = false;
  make_client_response(resp_);
  const bool to_stream = down_.is_stream();
  if (to_stream) {
    if (!down_.stream()->submit_response(resp_out_)) co_return Outcome::kAborted;
  } else {
    out_.clear();
    http::write_response_head(resp_out_, chunk_to_client, persistence(!client_keep_alive_), &out_);
  }
  status_ = resp_.status;
  const bool upstream_keep_alive = resp_.framing.keep_alive;

  // The upstream connection goes back to the pool as soon as its last response byte is read,
  // which for a small response is before the client write: the next request can use it at once.
  bool upstream_released = false;
  auto release_upstream = [&] {
    if (upstream_released) return;
    upstream_released = true;
    if (upstream_keep_alive && body != http::BodyKind::kUntilClose && up_in_.empty() &&
        request_body_done_ && !up_.is_stream()) {
      worker_.pool().give_back(*pool_key_, std::move(up_.socket()), up_.release_ssl(),
                               std::move(up_token_), cluster_config_->max_idle_per_endpoint,
                               core::coarse_now());
      // A moved-from socket is a closed one on the same executor (Asio's move guarantee): no
      // new socket object, which would take the io_context's service-registry lock.
    } else {
      up_.close();  // an HTTP/2 stream ends here; its connection stays for the others
    }
  };
  std::string_view prefix;
  if (body == http::BodyKind::kContentLength) {
    prefix = up_in_.data().substr(
        0, static_cast<size_t>(std::min<uint64_t>(up_in_.size(), resp_.framing.content_length)));
  }
  const bool complete =
      body == http::BodyKind::kNone ||
      (body == http::BodyKind::kContentLength && prefix.size() == resp_.framing.content_length);
  if (complete) {
    // consume() only moves the cursor: `prefix` stays valid while the connection is pooled.
    up_in_.consume(prefix.size());
    release_upstream();  // reusable only if the upstream sent nothing after the response
  }
  std::string_view head = to_stream ? std::string_view() : std::string_view(out_);
  std::string_view rest = prefix;
  bool written = false;
  if (!write_client_now(&head, &rest, &written)) written = co_await write_client(head, rest, true);
  if (!written) co_return Outcome::kAborted;
  if (!complete) up_in_.consume(prefix.size());
  bytes_sent_ += prefix.size();
  // A complete response has no more body to relay: no coroutine is started for it.
  if (!complete && !co_await relay_response_body(chunk_to_client)) co_return Outcome::kAborted;
  release_upstream();
  co_return Outcome::kDone;
}

asio::awaitable<bool> HttpSession::relay_response_body(bool chunk_to_client) {
  const auto response_timeout = response_timeout_for(*cluster_config_);
  const auto body = resp_.framing.body;
  if (body == http::BodyKind::kNone) co_return true;
  // Reads more upstream bytes; false on error, timeout, or (unless `eof_ok`) end of stream.
  bool eof = false;
  auto read_more = [&](bool eof_ok) -> asio::awaitable<bool> {
    auto space = up_in_.prepare(kIoChunk);
    arm(Deadline::kResponse, response_timeout);
    auto [ec, n] = co_await up_.read_some(space.data(), space.size());
    disarm();
    if (ec) {
      take_fired();
      if (ec == asio::error::eof && eof_ok) {
        eof = true;
        co_return true;
      }
      co_return false;
    }
    up_in_.commit(n);
    co_return true;
  };

  if (body == http::BodyKind::kContentLength) {
    uint64_t remaining = resp_.framing.content_length - bytes_sent_;
    while (remaining > 0) {
      if (up_in_.empty() && !co_await read_more(false)) co_return false;
      auto chunk = up_in_.data().substr(
          0, static_cast<size_t>(std::min<uint64_t>(up_in_.size(), remaining)));
      std::string_view a = chunk, b;
      bool written = false;
      if (!write_client_now(&a, &b, &written)) written = co_await write_client(a, b, true);
      if (!written) co_return false;
      up_in_.consume(chunk.size());
      remaining -= chunk.size();
      bytes_sent_ += chunk.size();
    }
    co_return true;
  }

  std::string pending;
  char size_line[24];
  auto emit = [&](std::string_view data) -> asio::awaitable<bool> {
    bytes_sent_ += data.size();
    if (!chunk_to_client) co_return co_await write_client(data);
    size_t n = http::write_chunk_size(data.size(), size_line);
    pending.append(size_line, n);
    bool ok = co_await write_client(pending, data);
    pending.assign("\r\n");
    co_return ok;
  };

  // The end of a body of unknown length, with its trailers: a last chunk and trailer section
  // for an HTTP/1.1 client (the trailers only if it said TE: trailers), HEADERS for an h2 one.
  auto finish = [&](const std::vector<http::Header>& trailers) -> asio::awaitable<bool> {
    if (down_.is_stream()) {
      down_.stream()->end_body(trailers);
      co_return true;
    }
    if (!chunk_to_client) co_return true;
    pending.append("0\r\n");
    if (client_takes_trailers_) {
      for (const auto& t : trailers)
        pending.append(t.name).append(": ").append(t.value).append("\r\n");
    }
    pending.append("\r\n");
    co_return co_await write_client(pending);
  };

  // Until the end of the stream: an HTTP/1.1 backend's close, or an h2 one's last DATA (then
  // its trailers).
  if (body == http::BodyKind::kUntilClose || up_.is_stream()) {
    while (true) {
      if (up_in_.empty()) {
        if (!co_await read_more(true)) co_return false;
        if (eof) break;
        continue;
      }
      if (!co_await emit(up_in_.data())) co_return false;
      up_in_.clear();
    }
    // A named value: GCC 12 mishandles a temporary of `?:` across a co_await.
    std::vector<http::Header> trailers;
    if (up_.is_stream()) trailers = up_.stream()->response_trailer_fields();
    co_return co_await finish(trailers);
  }

  chunked_.reset();
  while (true) {
    if (up_in_.empty() && !co_await read_more(false)) co_return false;
    auto step = chunked_.step(up_in_.data());
    if (step.error) co_return false;  // the client sees a truncated response, never a bad one
    if (!step.data.empty() && !co_await emit(step.data)) co_return false;
    if (step.done) {
      up_in_.consume(step.consumed);
      co_return co_await finish(chunked_.trailer_fields());
    }
    if (step.consumed == 0) {
      if (!co_await read_more(false)) co_return false;
      continue;
    }
    up_in_.consume(step.consumed);
  }
}

}  // namespace sluice::l7
