#pragma once
// HTTP/1.1 toward a client (RFC 9112): request heads parsed strictly from the connection's bytes,
// request bodies by Content-Length or decoded chunks, `100 Continue` when the client expects it,
// responses written as status line, fields and framing (chunks for a body of unknown length to
// an HTTP/1.1 client, the close for an HTTP/1.0 one), a WebSocket's 101. Pipelined requests wait
// in the buffer for the next head.
#include <asio/awaitable.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "core/buffer.h"
#include "http/http1_body.h"
#include "http/http1_writer.h"
#include "http/request_parser.h"
#include "l7/client_codec.h"
#include "l7/downstream.h"

namespace sluice::l7 {

class Http1ServerCodec final : public ClientCodec {
 public:
  explicit Http1ServerCodec(Downstream& down);

  // The first head of a connection that may also speak HTTP/2 (h2c with prior knowledge).
  void detect_h2_preface(bool on) { detect_h2_ = on; }
  std::string_view buffered() const { return in_.data(); }
  void drop_buffered() { in_.consume(in_.size()); }

  bool is_tls() const override { return down_.is_tls(); }
  const std::string& client_subject() const override { return down_.client_subject(); }
  bool one_request() const override { return false; }
  bool has_buffered() const override { return !in_.empty(); }
  void set_limits(const http::RequestLimits& limits, size_t max_buffer) override;

  HeadRead parse_head(http::RequestHead* req) override;
  asio::awaitable<IoResult> receive() override;
  void received(size_t n) override { in_.commit(n); }
  bool websocket() const override { return websocket_; }
  bool takes_trailers() const override { return takes_trailers_; }
  const char* early_body_error() const override;
  void release_head() override;
  BodyRead body_at_hand() override;
  asio::awaitable<BodyRead> read_body() override;
  std::vector<http::Header> request_trailers() const override { return body_.trailers(); }

  bool start_response(const http::Response& resp, bool* close) override;
  bool write_now(std::string_view, bool*) override { return false; }
  asio::awaitable<IoResult> write(std::string_view data, bool tried_now) override;
  asio::awaitable<bool> end_response(const std::vector<http::Header>& trailers) override;
  asio::awaitable<int> switch_protocols(const http::ResponseHead& resp) override;

  asio::awaitable<BodyRead> read_raw() override;
  asio::awaitable<bool> write_raw(std::string_view data) override;
  void shutdown_send() override { down_.shutdown_send(); }
  void cancel() override { down_.cancel(); }
  void close() override { down_.close(); }

 private:
  asio::awaitable<bool> fill();  // reads more request bytes (after a 100 Continue, if owed)
  void take_pending() {
    in_.consume(pending_);
    pending_ = 0;
  }

  Downstream& down_;
  core::Buffer in_;
  http::RequestParser parser_;
  bool detect_h2_ = false;

  // The request in flight.
  size_t head_len_ = 0;
  int version_minor_ = 1;
  http::Http1BodyDecoder body_;
  size_t pending_ = 0;  // bytes of the last piece handed over, still in in_
  bool expect_continue_ = false;
  bool websocket_ = false;
  bool takes_trailers_ = false;

  // The response in flight: its head waits in out_ for the first body bytes.
  std::string out_;
  bool head_pending_ = false;
  bool chunked_out_ = false;
  bool crlf_owed_ = false;  // the CRLF that ends the last chunk, sent with the next write
};

}  // namespace sluice::l7
