#pragma once
// Upstream HTTP/2 in cleartext (cluster `protocol: h2c`): one connection per endpoint and worker,
// shared by every session of that worker (multiplexing), opened on demand and replaced when the
// endpoint sends GOAWAY or the connection fails.
//
// A stream carries neutral messages both ways: the session submits its http::Request as
// HEADERS and writes the body as DATA (trailers as a last HEADERS frame), and reads the
// response head as fields (response_head), the body as DATA as it came, and the trailers
// (gRPC's grpc-status) after the end of the stream. No HTTP/1.1 text is made or parsed here.
#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>
#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include <array>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "http/message.h"
#include "l7/h2_bridge.h"

namespace sluice::l7 {

class H2Client;

// `in` holds the response's DATA; `out` the request's.
struct H2UpStream : h2_bridge::End, std::enable_shared_from_this<H2UpStream> {
  explicit H2UpStream(const asio::any_io_executor& ex) : End(ex) {}
  ~H2UpStream() override { finish(); }

  // read() and cancel() come from End.
  asio::awaitable<std::tuple<std::error_code, size_t>> write(std::string_view a,
                                                             std::string_view b);
  void finish();  // the session is done: reset the stream if it is still open

  std::shared_ptr<H2Client> client;
  int32_t id = -1;       // -1 until the request head was submitted
  bool refused = false;  // REFUSED_STREAM: the backend did nothing with it, resending is safe

  // Request. The head is submitted whole; DATA follows from write() until end_body(), or until
  // its known length is all there.
  bool submit_head(const http::Request& req);  // false: the connection cannot take it
  void end_body(const std::vector<http::Header>& trailers);
  std::vector<std::string> names;  // lowered copies of field names, alive until HEADERS are sent
  bool known_length = true;
  uint64_t remaining = 0;
  std::vector<std::pair<std::string, std::string>> trailers;  // sent after the last DATA

  // Response: the head's fields are kept as they came (names and values back to back in
  // `store`), `in` holds the body's DATA as it is, and trailers end the stream.
  int status = 0;
  bool head_received = false;
  bool head_ended_stream = false;  // HEADERS with END_STREAM: no body at all (gRPC's
                                   // trailers-only answers)
  std::string store;
  std::vector<std::array<uint32_t, 4>> spans;  // per field: name offset, length, value ...
  std::vector<std::pair<std::string, std::string>> response_trailers;
  bool finished = false;
  // Waits until the response head is here; an error if the stream ended first or was cancelled.
  // (A read's result type, with no bytes: the codec hands it on as its receive().)
  asio::awaitable<std::tuple<std::error_code, size_t>> wait_for_head();
  // The head as the session reads any backend's: `head` views this stream's storage.
  void response_head(std::string_view method, http::ResponseHead* head) const;
  std::vector<http::Header> response_trailer_fields() const;

 protected:
  bool attached() const override { return client != nullptr; }
  void reopen_window(size_t n) override;
};

class H2Client : public std::enable_shared_from_this<H2Client> {
 public:
  // `ssl`: the connection's TLS (ALPN h2 done), owned from here on; null for h2c.
  H2Client(asio::io_context& io, asio::ip::tcp::socket socket, SSL* ssl);
  ~H2Client();
  // Called once: when the backend's first SETTINGS arrive, or when the connection ends first.
  void when_ready(std::function<void()> ready) { ready_ = std::move(ready); }
  // The reader and writer; they keep the client alive until it ends. A backend whose SETTINGS
  // do not come within `settings_timeout` is dropped (the waiters must not wait forever).
  void start(std::chrono::milliseconds settings_timeout);
  // Not ended, no GOAWAY received: the connection may still take streams.
  bool alive() const;
  // Alive, and fewer streams taken (opened and not finished) than the backend allows at once.
  bool has_room() const;
  std::shared_ptr<H2UpStream> open_stream();
  void stop();

  // From streams.
  bool submit(H2UpStream& s, std::vector<nghttp2_nv>& nv, bool has_body);
  void consumed(H2UpStream& s, size_t n);
  void resume(H2UpStream& s);
  void reset(H2UpStream& s);
  void give_back() { --taken_; }  // a stream from open_stream is finished
  void kick() { write_wake_.cancel(); }

 private:
  asio::awaitable<void> read_loop();
  asio::awaitable<void> write_loop();
  void fail_all();

  static int on_header(nghttp2_session*, const nghttp2_frame*, const uint8_t*, size_t,
                       const uint8_t*, size_t, uint8_t, void*);
  static int on_frame_recv(nghttp2_session*, const nghttp2_frame*, void*);
  static int on_data_chunk(nghttp2_session*, uint8_t, int32_t, const uint8_t*, size_t, void*);
  static int on_stream_close(nghttp2_session*, int32_t, uint32_t, void*);

  asio::io_context& io_;
  asio::ip::tcp::socket socket_;
  nghttp2_session* session_ = nullptr;
  std::unordered_map<int32_t, std::shared_ptr<H2UpStream>> streams_;
  asio::steady_timer write_wake_;
  asio::steady_timer settings_timer_;
  std::string pending_;
  bool done_ = false;
  bool goaway_ = false;
  uint32_t taken_ = 0;
  bool settings_received_ = false;  // before them the backend's stream limit is unknown
  std::function<void()> ready_;
  void become_ready();  // streams handed out and not finished (some not submitted yet)
  SSL* ssl_ = nullptr;
  bool broken_ = false;
};

}  // namespace sluice::l7
