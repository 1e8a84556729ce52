#pragma once
// The backend side of an exchange, whatever the HTTP version: the mirror of client_codec.h. The
// session hands it the neutral request and body pieces and reads back the response head, its
// body pieces and trailers. http1_upstream_codec.h writes HTTP/1.1 on a pooled connection;
// h2_upstream_codec.h uses a stream of a shared HTTP/2 connection.
//
// As on the client side, deadlines are the session's; a codec only says that an operation failed.
#include <asio/awaitable.hpp>

#include <cstdint>
#include <string_view>
#include <vector>

#include "http/message.h"
#include "l7/client_codec.h"

namespace sluice::l7 {

// What reading a response head came to.
struct ResponseHeadRead {
  enum class Kind : uint8_t {
    kMore,    // incomplete: receive() more
    kHead,    // a final response
    kSwitch,  // 101 to the WebSocket handshake that was sent
    kFailed,  // the connection or stream ended (or a deadline fired); `had_bytes`: mid-head
    kBad,     // not a response sluice may relay: `reason` (answered 502)
  };
  Kind kind = Kind::kFailed;
  bool had_bytes = false;
  std::string_view reason;
};

class UpstreamCodec {
 public:
  virtual ~UpstreamCodec() = default;

  virtual bool is_open() const = 0;
  // The backend refused the stream unanswered (HTTP/2 REFUSED_STREAM): resending is safe.
  virtual bool refused() const = 0;

  // --- the request ---
  // Takes the head while its views are valid (before the client's buffer moves on); send_head
  // sends it, again on each try.
  virtual void prepare(const http::Request& req) = 0;
  // The head, with the body bytes at hand (possibly all of the body).
  virtual asio::awaitable<IoResult> send_head(const http::Request& req, std::string_view body) = 0;
  virtual asio::awaitable<IoResult> send_body(std::string_view data) = 0;
  // The body is complete; `trailers` go with its end where the framing can carry them.
  virtual asio::awaitable<bool> end_body(const std::vector<http::Header>& trailers) = 0;

  // --- the response ---
  // The final response head from what is at hand (interim 1xx are skipped; a 101 only to a
  // WebSocket handshake); kMore asks for receive() and received().
  virtual ResponseHeadRead parse_head(std::string_view method, bool websocket,
                                      http::ResponseHead* resp) = 0;
  virtual asio::awaitable<IoResult> receive() = 0;
  virtual void received(size_t n) = 0;
  virtual bool has_partial_head() const = 0;  // bytes of a head came (a close is then mid-head)
  virtual BodyRead body_at_hand() = 0;        // without waiting, as ClientCodec::body_at_hand
  virtual asio::awaitable<BodyRead> read_body() = 0;
  virtual std::vector<http::Header> response_trailers() const = 0;  // after kEnd
  // The connection can carry another request once this response is complete (HTTP/1.1 pool).
  virtual bool reusable() const = 0;

  // --- a tunnel, after a switch ---
  virtual asio::awaitable<BodyRead> read_raw() = 0;
  virtual asio::awaitable<bool> write_raw(std::string_view data) = 0;
  virtual void shutdown_send() = 0;

  virtual void cancel() = 0;
  virtual void close() = 0;  // a stream not finished is reset; a connection is closed
};

}  // namespace sluice::l7
