// HttpSession's body pumps, in neutral pieces through the codecs: the request body to the
// backend (trailers last), the response head and its body back to the client. Whether the bytes
// travel as Content-Length, chunks or HTTP/2 DATA is each codec's affair.
#include <algorithm>

#include "core/coarse_clock.h"
#include "l7/http_session.h"
#include "l7/http_session_internal.h"

namespace sluice::l7 {
using namespace session;

asio::awaitable<bool> HttpSession::send_request_body(Outcome* outcome) {
  const auto& listener = view_->snapshot->config->listeners[listener_index_];
  auto upstream_failed = [&]() {
    local_status_ = upstream_too_slow(take_fired()) ? 504 : 502;
    *outcome = Outcome::kLocalResponse;
    return false;
  };
  while (true) {
    arm(Deadline::kBodyIdle, listener.timeouts.request_body_idle);
    const auto piece = co_await client_->read_body();
    disarm();
    switch (piece.kind) {
      case BodyRead::Kind::kFailed:
        if (client_too_slow(take_fired())) {
          local_status_ = 408;
          *outcome = Outcome::kLocalResponse;
        } else {
          local_status_ = 0;  // the client is gone; nobody to answer
          *outcome = Outcome::kAborted;
        }
        co_return false;
      case BodyRead::Kind::kBadFraming:
        // Part of the request went upstream already: the caller closes that connection (never
        // pooled, the backend may be waiting for the rest of a body that will not come).
        view_->listener_stats[listener_index_]->body_errors_after_upstream.add();
        local_status_ = 400;
        local_detail_ = piece.reason;
        *outcome = Outcome::kLocalResponse;
        co_return false;
      case BodyRead::Kind::kEnd: {
        request_body_done_ = true;
        const auto trailers = client_->request_trailers();
        arm(Deadline::kResponse, cluster_config_->timeouts.response);
        const bool ended = co_await backend_->end_body(trailers);
        disarm();
        if (!ended) co_return upstream_failed();
        co_return true;
      }
      case BodyRead::Kind::kData:
        break;
    }
    bytes_received_ += piece.data.size();
    if (max_body_ != 0 && bytes_received_ > max_body_) {
      local_status_ = 413;
      *outcome = Outcome::kLocalResponse;
      co_return false;
    }
    if (!piece.data.empty()) {
      arm(Deadline::kResponse, cluster_config_->timeouts.response);
      const auto failed = std::get<0>(co_await backend_->send_body(piece.data));
      disarm();
      if (failed) co_return upstream_failed();
    }
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
  arm(Deadline::kResponse, response_timeout_for(*cluster_config_));
  ResponseHeadRead head;
  while ((head = backend_->parse_head(method_, upgrade_, &resp_)).kind ==
         ResponseHeadRead::Kind::kMore) {
    auto [ec, n] = co_await backend_->receive();
    if (ec) {
      head = {ResponseHeadRead::Kind::kFailed, backend_->has_partial_head(), {}};
      break;
    }
    backend_->received(n);
  }
  disarm();
  switch (head.kind) {
    case ResponseHeadRead::Kind::kMore:
    case ResponseHeadRead::Kind::kFailed:
      if (upstream_too_slow(take_fired())) {
        local_status_ = 504;
        co_return Outcome::kLocalResponse;
      }
      if (!head.had_bytes) co_return Outcome::kStale;  // closed before answering
      local_status_ = 502;
      local_detail_ = "upstream closed mid-head";
      co_return Outcome::kLocalResponse;
    case ResponseHeadRead::Kind::kBad:
      local_status_ = 502;
      local_detail_ = head.reason;
      co_return Outcome::kLocalResponse;
    case ResponseHeadRead::Kind::kSwitch:
      status_ = co_await client_->switch_protocols(resp_);
      co_return status_ != 0 ? Outcome::kUpgraded : Outcome::kAborted;
    case ResponseHeadRead::Kind::kHead:
      break;
  }
  if (retry_statuses && std::find(retry_statuses->begin(), retry_statuses->end(), resp_.status) !=
                            retry_statuses->end()) {
    // Another endpoint will be asked; this answer (and its connection) is dropped unseen.
    status_ = resp_.status;
    backend_->close();
    co_return Outcome::kRetryStatus;
  }
  if (worker_.draining()) client_keep_alive_ = false;
  if (!request_body_done_) client_keep_alive_ = false;
  make_client_response(resp_);
  bool close = !client_keep_alive_;
  if (!client_->start_response(resp_out_, &close)) co_return Outcome::kAborted;
  client_keep_alive_ = !close;
  status_ = resp_.status;

  // The upstream connection goes back to the pool as soon as its last response byte is read,
  // which for a small response is before the client write: the next request can use it at once.
  bool upstream_released = false;
  auto release_upstream = [&] {
    if (upstream_released) return;
    upstream_released = true;
    if (request_body_done_ && backend_->reusable()) {
      worker_.pool().give_back(*pool_key_, std::move(up_.socket()), up_.release_ssl(),
                               std::move(up_token_), cluster_config_->max_idle_per_endpoint,
                               core::coarse_now());
      // A moved-from socket is a closed one on the same executor (Asio's move guarantee): no
      // new socket object, which would take the io_context's service-registry lock.
    } else {
      backend_->close();  // an HTTP/2 stream ends here; its connection stays for the others
    }
  };
  // The body bytes at hand go with the head; their view stays valid while the connection is
  // pooled (the buffer is the session's).
  const auto first = backend_->body_at_hand();
  const bool complete = first.kind == BodyRead::Kind::kEnd || first.last;
  if (complete) release_upstream();
  const std::string_view data =
      first.kind == BodyRead::Kind::kData ? first.data : std::string_view();
  bool written = false;
  if (!write_client_now(data, &written)) {
    written = !std::get<0>(co_await write_client(data, true));
    disarm();
  }
  if (!written) co_return Outcome::kAborted;
  bytes_sent_ += data.size();
  // A complete response has no more body to relay: no coroutine is started for it.
  if (!complete && !co_await relay_response_body()) co_return Outcome::kAborted;
  release_upstream();
  co_return Outcome::kDone;
}

asio::awaitable<bool> HttpSession::relay_response_body() {
  const auto response_timeout = response_timeout_for(*cluster_config_);
  const bool known_length = resp_.framing.body == http::BodyKind::kContentLength;
  while (true) {
    arm(Deadline::kResponse, response_timeout);
    const auto piece = co_await backend_->read_body();
    disarm();
    if (piece.kind == BodyRead::Kind::kEnd) {
      // The trailers: a named value (GCC 12 mishandles a temporary across a co_await).
      const auto trailers = backend_->response_trailers();
      co_return co_await client_->end_response(trailers);
    }
    // An error: the client sees a truncated response, never a bad one.
    if (piece.kind != BodyRead::Kind::kData) {
      take_fired();
      co_return false;
    }
    bool written = false;
    if (!write_client_now(piece.data, &written)) {
      written = !std::get<0>(co_await write_client(piece.data, true));
      disarm();
    }
    if (!written) co_return false;
    bytes_sent_ += piece.data.size();
    if (piece.last && known_length) co_return true;  // a length ends by itself
  }
}

}  // namespace sluice::l7
