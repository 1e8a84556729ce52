// What sluice answers itself, written by the client's codec like any response: errors as short
// text/plain bodies, gRPC statuses as trailers-only answers, and the redirect to https.
#include <fmt/format.h>

#include "http/status.h"
#include "l7/grpc_status.h"
#include "l7/http_session.h"

namespace sluice::l7 {

asio::awaitable<bool> HttpSession::write_response(std::string_view body, bool close) {
  if (!client_->start_response(resp_out_, &close)) co_return false;
  bool ok = false;
  if (!write_client_now(body, &ok)) {
    ok = !std::get<0>(co_await write_client(body, true));
    disarm();
  }
  co_return ok;
}

asio::awaitable<void> HttpSession::send_local(int status, bool close, std::string_view detail) {
  status_ = status;
  if (grpc_) co_return co_await send_grpc_status(status, close, detail);
  auto reason = http::reason_phrase(status);
  std::string body = fmt::format("{} {}\n", status, reason);
  if (!detail.empty()) body = fmt::format("{} {}: {}\n", status, reason, detail);
  resp_out_.status = status;
  resp_out_.headers.clear();
  resp_out_.headers.add({"Content-Type", "text/plain; charset=utf-8", http::HeaderId::kOther});
  if (overloaded_) resp_out_.headers.add({"x-sluice-overloaded", "true", http::HeaderId::kOther});
  resp_out_.body = http::BodyLength::known(body.size());
  overloaded_ = false;
  if (method_ == "HEAD") body.clear();
  if (listener_index_ >= 0) view_->listener_stats[listener_index_]->local_responses[status].add();
  bytes_sent_ = body.size();
  co_await write_response(body, close);
}

asio::awaitable<bool> HttpSession::redirect_to_https(const config::Listener& listener) {
  client_->release_head();
  if (host_.empty()) {  // HTTP/1.0 without Host: nowhere to send the client
    co_await send_local(400, true, "a redirect to https needs a Host header");
    log_request(400);
    co_return false;
  }
  status_ = 308;
  const bool close = !request_body_done_ || !client_keep_alive_;
  const bool bracket = host_.find(':') != std::string::npos;  // an IPv6 literal
  std::string_view port;
  std::string port_text;
  if (listener.redirect_https_port != 443) {
    port_text = fmt::format(":{}", listener.redirect_https_port);
    port = port_text;
  }
  resp_out_.status = 308;
  resp_out_.headers.clear();
  resp_out_.headers.add({"Location",
                         arena_.join(bracket ? "https://[" : "https://", host_,
                                     arena_.join(bracket ? "]" : "", port), log_target_),
                         http::HeaderId::kOther});
  resp_out_.body = http::BodyLength::known(0);
  view_->listener_stats[listener_index_]->local_responses[308].add();
  bytes_sent_ = 0;
  co_await write_response({}, close);
  log_request(308);
  co_return !close;
}

asio::awaitable<void> HttpSession::send_grpc_status(int status, bool close,
                                                    std::string_view detail) {
  // A trailers-only response: HTTP 200 whose header section carries the gRPC status.
  std::string message;
  append_grpc_message(&message, detail.empty() ? http::reason_phrase(status) : detail);
  resp_out_.status = 200;
  resp_out_.headers.clear();
  resp_out_.headers.add({"Content-Type", "application/grpc", http::HeaderId::kOther});
  resp_out_.headers.add({"grpc-status", arena_.copy(std::to_string(grpc_status_for(status))),
                         http::HeaderId::kOther});
  resp_out_.headers.add({"grpc-message", arena_.copy(message), http::HeaderId::kOther});
  resp_out_.body = http::BodyLength::known(0);
  overloaded_ = false;
  if (listener_index_ >= 0) view_->listener_stats[listener_index_]->local_responses[status].add();
  bytes_sent_ = 0;
  co_await write_response({}, close);
}

}  // namespace sluice::l7
