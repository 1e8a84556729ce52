#pragma once
// HTTP/1.1 toward a backend, on a pooled connection (upstream.h): the neutral request written as
// request line, fields and framing (a body of unknown length in chunks, its trailers in the last
// one), the response head parsed strictly (interim 1xx skipped), its body by Content-Length,
// chunks or the close. A neutral WebSocket request (`protocol: websocket`, from an HTTP/1.1
// Upgrade or an HTTP/2 extended CONNECT) becomes the HTTP/1.1 handshake here, the only side that
// needs one: `Upgrade: websocket` and, for a client that sent none, a Sec-WebSocket-Key.
#include <asio/awaitable.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "core/buffer.h"
#include "http/http1_body.h"
#include "http/response_parser.h"
#include "l7/upstream.h"
#include "l7/upstream_codec.h"

namespace sluice::l7 {

class Http1UpstreamCodec final : public UpstreamCodec {
 public:
  explicit Http1UpstreamCodec(Upstream& up);

  bool is_open() const override { return up_.is_open(); }
  bool refused() const override { return false; }

  void prepare(const http::Request& req) override;
  asio::awaitable<IoResult> send_head(const http::Request& req, std::string_view body) override;
  asio::awaitable<IoResult> send_body(std::string_view data) override;
  asio::awaitable<bool> end_body(const std::vector<http::Header>& trailers) override;

  ResponseHeadRead parse_head(std::string_view method, bool websocket,
                              http::ResponseHead* resp) override;
  asio::awaitable<IoResult> receive() override;
  void received(size_t n) override { in_.commit(n); }
  bool has_partial_head() const override { return !in_.empty(); }
  BodyRead body_at_hand() override;
  asio::awaitable<BodyRead> read_body() override;
  std::vector<http::Header> response_trailers() const override { return body_.trailers(); }
  bool reusable() const override;

  asio::awaitable<BodyRead> read_raw() override;
  asio::awaitable<bool> write_raw(std::string_view data) override;
  void shutdown_send() override { up_.shutdown_send(); }
  void cancel() override { up_.cancel(); }
  void close() override { up_.close(); }

 private:
  Upstream& up_;
  core::Buffer in_;
  http::ResponseParser parser_;

  // The request: its head, written once per request and sent on each try, and its chunks.
  std::string head_;
  std::string frame_;
  bool chunked_request_ = false;
  bool crlf_owed_ = false;

  // The response in flight.
  http::Http1BodyDecoder body_;
  bool keep_alive_ = false;
};

}  // namespace sluice::l7
