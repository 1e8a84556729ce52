#pragma once
// One HTTP/2 stream of a client connection (h2_connection.h), shared by the connection, which
// fills its request and sends its response, and the HttpSession serving it (through
// its H2ServerCodec). Everything runs on one worker thread.
#include <nghttp2/nghttp2.h>
#include <asio/awaitable.hpp>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <utility>
#include <vector>

#include "http/message.h"
#include "l7/h2_bridge.h"

namespace sluice::l7 {

class H2Connection;

// One stream, shared by the connection (which fills the request and sends the response) and the
// HttpSession serving it (through its H2ServerCodec). Everything runs on one worker thread.
// `in` holds the request's DATA; `out` the response's.
struct H2Stream : h2_bridge::End {
  explicit H2Stream(const asio::any_io_executor& ex) : End(ex) {}

  // For the HttpSession's H2ServerCodec; read() and cancel() come from End.
  // With a and b empty, only waits for room (after a write_now that took them).
  asio::awaitable<std::tuple<std::error_code, size_t>> write(std::string_view a,
                                                             std::string_view b);
  // The same without waiting: false when the client's window holds too much of the response
  // (a and b are taken whole either way; wait_for_room() then waits).
  bool write_now(std::string_view a, std::string_view b, std::error_code* ec);
  void finish();  // the session is done with the stream: end or reset it

  int32_t id = 0;
  H2Connection* connection = nullptr;  // null once the connection is gone

  // Request. The head's views point into these; `in` holds the body's DATA.
  std::string method;
  std::string authority;
  std::string path;
  std::string protocol;    // extended CONNECT's :protocol (RFC 8441)
  bool websocket = false;  // an extended CONNECT for websocket: a neutral WebSocket request
  std::string store;       // names and values of the fields, back to back
  std::vector<std::array<uint32_t, 4>> spans;  // per field: name offset, length, value ...
  std::string cookies;                         // crumbs joined with "; " (RFC 9113 8.2.3)
  // The request's trailers (HTTP/2 names: lower case), valid once `in_ended`.
  std::vector<std::pair<std::string, std::string>> request_trailers;
  std::vector<http::Header> request_trailer_fields() const;  // views into request_trailers
  http::RequestHead request;                                 // complete when the session starts
  size_t header_bytes = 0;
  bool too_large = false;
  bool has_content_length = false;
  bool chunked = false;  // DATA without content-length: a length known at the end of the stream
  bool started = false;  // the HttpSession was spawned

  uint32_t empty_data_frames = 0;

  // Response: the head as HEADERS (submit_response), the body as DATA from write()/write_now()
  // until its known length is there or end_body() says it is over.
  bool head_sent = false;
  bool known_length = false;
  uint64_t remaining = 0;
  bool tunnel = false;  // a WebSocket tunnel: it ends cleanly when the session finishes

  bool finished = false;
  std::vector<std::pair<std::string, std::string>> trailers;  // sent after the last DATA

 protected:
  bool attached() const override { return connection != nullptr; }
  void reopen_window(size_t n) override;

 public:
  void finish_head();  // the header block is complete: build `request`
  // The response head; false when the stream cannot take it (reset, or the connection gone).
  bool submit_response(const http::Response& resp);
  // The body is complete; `trailers` (fields of a chunked trailer section, or an h2 backend's
  // trailers) go out as a last HEADERS frame.
  void end_body(const std::vector<http::Header>& trailers);
  // The backend switched to WebSocket (101): the client's extended CONNECT gets its 200, and the
  // stream carries the tunnel's bytes as DATA both ways until either side ends it.
  bool submit_tunnel(const http::ResponseHead& resp);

  // A response sluice makes itself (431, 501, 400 before any session): text/plain, whole.
  void submit_local(int status, std::string_view text);

 private:
  bool submit(int status, const std::vector<http::Header>& headers, std::string_view content_length,
              bool has_body);
};

}  // namespace sluice::l7
