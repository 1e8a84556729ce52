#pragma once
// HTTP/2 toward a client: one stream of an H2Connection (h2_stream.h). The request head comes
// whole as fields (checked as a parsed HTTP/1.1 head would be), its body as DATA until the end of
// the stream and its trailers after it; the response goes out as HEADERS, DATA as it is, and
// trailers as a last HEADERS frame. An extended CONNECT for websocket (RFC 8441) is a neutral
// WebSocket request (a GET with `protocol`); its success is a 200, and the stream then carries
// the tunnel.
#include <asio/awaitable.hpp>

#include <memory>
#include <string>
#include <vector>

#include "http/request_parser.h"
#include "l7/client_codec.h"
#include "l7/h2_data_reader.h"
#include "l7/h2_stream.h"

namespace sluice::l7 {

class H2ServerCodec final : public ClientCodec {
 public:
  H2ServerCodec(std::shared_ptr<H2Stream> stream, bool tls, std::string client_subject);
  ~H2ServerCodec() override;
  H2ServerCodec(const H2ServerCodec&) = delete;
  H2ServerCodec& operator=(const H2ServerCodec&) = delete;

  bool is_tls() const override { return tls_; }
  const std::string& client_subject() const override { return client_subject_; }
  bool one_request() const override { return true; }
  bool has_buffered() const override { return false; }
  void set_limits(const http::RequestLimits& limits, size_t) override {
    parser_ = http::RequestParser(limits);
  }

  HeadRead parse_head(http::RequestHead* req) override;
  asio::awaitable<IoResult> receive() override;  // never asked: the head comes whole
  void received(size_t) override {}
  bool websocket() const override { return stream_->websocket; }
  bool takes_trailers() const override { return true; }
  const char* early_body_error() const override { return nullptr; }
  void release_head() override {}
  BodyRead body_at_hand() override;
  asio::awaitable<BodyRead> read_body() override;
  std::vector<http::Header> request_trailers() const override {
    return stream_->request_trailer_fields();
  }

  bool start_response(const http::Response& resp, bool* close) override;
  bool write_now(std::string_view data, bool* ok) override;
  asio::awaitable<IoResult> write(std::string_view data, bool tried_now) override;
  asio::awaitable<bool> end_response(const std::vector<http::Header>& trailers) override;
  asio::awaitable<int> switch_protocols(const http::ResponseHead& resp) override;

  asio::awaitable<BodyRead> read_raw() override;
  asio::awaitable<bool> write_raw(std::string_view data) override;
  void shutdown_send() override { stream_->finish(); }
  void cancel() override { stream_->cancel(); }
  void close() override { stream_->finish(); }

 private:
  std::shared_ptr<H2Stream> stream_;
  bool tls_;
  std::string client_subject_;
  http::RequestParser parser_;
  H2DataReader data_;  // the request's DATA
};

}  // namespace sluice::l7
