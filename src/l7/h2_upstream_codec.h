#pragma once
// HTTP/2 toward a backend: a stream of a worker's shared connection (h2_client.h). The neutral
// request goes out as HEADERS, its body as DATA and its trailers as a last HEADERS frame; the
// response head comes as fields, its body as DATA as it came, the trailers after the end of the
// stream. Nothing is re-framed.
#include <asio/awaitable.hpp>

#include <memory>
#include <string_view>
#include <utility>
#include <vector>

#include "l7/h2_client.h"
#include "l7/h2_data_reader.h"
#include "l7/upstream_codec.h"

namespace sluice::l7 {

class H2UpstreamCodec final : public UpstreamCodec {
 public:
  H2UpstreamCodec() = default;
  ~H2UpstreamCodec() override { close(); }
  H2UpstreamCodec(const H2UpstreamCodec&) = delete;
  H2UpstreamCodec& operator=(const H2UpstreamCodec&) = delete;

  void attach(std::shared_ptr<H2UpStream> stream) { stream_ = std::move(stream); }

  bool is_open() const override { return stream_ != nullptr; }
  bool refused() const override { return stream_ && stream_->refused; }

  void prepare(const http::Request&) override {}
  asio::awaitable<IoResult> send_head(const http::Request& req, std::string_view body) override;
  asio::awaitable<IoResult> send_body(std::string_view data) override;
  asio::awaitable<bool> end_body(const std::vector<http::Header>& trailers) override;

  ResponseHeadRead parse_head(std::string_view method, bool websocket,
                              http::ResponseHead* resp) override;
  asio::awaitable<IoResult> receive() override { return stream_->wait_for_head(); }
  void received(size_t) override {}
  bool has_partial_head() const override { return false; }  // a head comes whole
  BodyRead body_at_hand() override;
  asio::awaitable<BodyRead> read_body() override;
  std::vector<http::Header> response_trailers() const override {
    return stream_ ? stream_->response_trailer_fields() : std::vector<http::Header>{};
  }
  bool reusable() const override { return false; }  // the connection stays for the others

  asio::awaitable<BodyRead> read_raw() override;
  asio::awaitable<bool> write_raw(std::string_view data) override;
  void shutdown_send() override {}  // a tunnel over an HTTP/2 stream is not offered
  void cancel() override {
    if (stream_) stream_->cancel();
  }
  void close() override;

 private:
  std::shared_ptr<H2UpStream> stream_;
  H2DataReader data_;  // the response's DATA
};

}  // namespace sluice::l7
