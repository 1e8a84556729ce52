#pragma once
// The client side of an exchange, whatever the HTTP version: what the session reads of a request
// and writes of a response, as neutral messages (http/message.h) and body pieces. The wire form
// (HTTP/1.1 text and chunks, HTTP/2 frames) is each codec's own: http1_server_codec.h and
// h2_server_codec.h. Its mirror toward a backend is upstream_codec.h.
//
// Deadlines are the session's: it arms one before a call that may wait and reads which one fired
// when a call fails, so a codec only says that an operation failed. Calls that are one read or
// one write return the transport's own awaitable (no coroutine frame of their own): a head is
// parsed by a plain function between reads, and the session's loop does the waiting.
#include <asio/awaitable.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <vector>

#include "http/message.h"
#include "http/request_parser.h"

namespace sluice::l7 {

// A piece of a body (or of a tunnel's bytes) as a codec hands it over. The bytes are a view into
// the codec's buffer, valid until the codec's next read.
struct BodyRead {
  enum class Kind : uint8_t {
    kData,        // `data` (possibly empty); `last`: nothing of the body follows it
    kEnd,         // the body is complete (its trailers, if any, are at hand)
    kFailed,      // the connection or stream failed, or a deadline fired
    kBadFraming,  // malformed framing (a bad chunk line): `reason`
  };
  Kind kind = Kind::kEnd;
  bool last = false;
  std::string_view data;
  const char* reason = "";

  static BodyRead piece(std::string_view d, bool is_last = false) {
    return {Kind::kData, is_last, d, ""};
  }
  static BodyRead end() { return {}; }
  static BodyRead failed() { return {Kind::kFailed, false, {}, ""}; }
  static BodyRead bad(const char* why) { return {Kind::kBadFraming, false, {}, why}; }
};

using IoResult = std::tuple<std::error_code, size_t>;

// What reading a request head came to.
struct HeadRead {
  enum class Kind : uint8_t {
    kMore,       // incomplete: receive() more bytes
    kHead,       // complete
    kBad,        // malformed or too large: answer `status` (`reason`) and close
    kH2Preface,  // the connection speaks HTTP/2 (h2c with prior knowledge)
  };
  Kind kind = Kind::kMore;
  int status = 0;
  std::string_view reason;

  static HeadRead more() { return {}; }
  static HeadRead head() { return {Kind::kHead, 0, {}}; }
  static HeadRead bad(int status, std::string_view why) { return {Kind::kBad, status, why}; }
  static HeadRead h2_preface() { return {Kind::kH2Preface, 0, {}}; }
};

class ClientCodec {
 public:
  virtual ~ClientCodec() = default;

  // Facts of the client's connection.
  virtual bool is_tls() const = 0;
  virtual const std::string& client_subject() const = 0;  // a verified certificate's, or empty
  virtual bool one_request() const = 0;                   // HTTP/2: a stream carries one request
  virtual bool has_buffered() const = 0;  // bytes received and not used yet (pipelining)
  virtual void set_limits(const http::RequestLimits& limits, size_t max_buffer) = 0;

  // --- the request ---
  // Parses the next request head into `req` from the bytes at hand; kMore asks for receive().
  virtual HeadRead parse_head(http::RequestHead* req) = 0;
  // Reads more bytes of a head (an error: the client closed, or a deadline fired); received()
  // takes them.
  virtual asio::awaitable<IoResult> receive() = 0;
  virtual void received(size_t n) = 0;
  // Of the head just parsed: a WebSocket handshake (an HTTP/1.1 Upgrade, an HTTP/2 extended
  // CONNECT), and whether the client takes trailers (HTTP/2 always; HTTP/1.1 by `TE: trailers`).
  virtual bool websocket() const = 0;
  virtual bool takes_trailers() const = 0;
  // The reason the body bytes already at hand are malformed, or null: such a request is refused
  // before anything of it reaches a backend.
  virtual const char* early_body_error() const = 0;
  // The head's views into the codec's buffer are no longer needed.
  virtual void release_head() = 0;
  // The body bytes at hand, without waiting (an empty piece when there are none).
  virtual BodyRead body_at_hand() = 0;
  virtual asio::awaitable<BodyRead> read_body() = 0;
  virtual std::vector<http::Header> request_trailers() const = 0;  // after kEnd

  // --- the response ---
  // Starts the response with its head (written with the first body bytes, or by end_response).
  // `*close` asks the connection to close after it; the codec may set it (an HTTP/1.0 client
  // and a body of unknown length). False when the client is gone.
  virtual bool start_response(const http::Response& resp, bool* close) = 0;
  // Body bytes without waiting: true when done (`*ok`: without error), false when write(data,
  // true) must finish the job.
  virtual bool write_now(std::string_view data, bool* ok) = 0;
  virtual asio::awaitable<IoResult> write(std::string_view data, bool tried_now) = 0;
  // The end of a body (of any length), with the trailers (dropped where the client takes none).
  virtual asio::awaitable<bool> end_response(const std::vector<http::Header>& trailers) = 0;
  // The backend switched to WebSocket: the client's handshake succeeds (101 over HTTP/1.1, 200
  // to an HTTP/2 extended CONNECT). Returns the status sent, 0 on failure.
  virtual asio::awaitable<int> switch_protocols(const http::ResponseHead& resp) = 0;

  // --- a tunnel, after switch_protocols: bytes both ways ---
  virtual asio::awaitable<BodyRead> read_raw() = 0;  // kEnd at the client's end of stream
  virtual asio::awaitable<bool> write_raw(std::string_view data) = 0;
  virtual void shutdown_send() = 0;

  virtual void cancel() = 0;  // aborts the operation in flight (a deadline fired)
  virtual void close() = 0;
};

}  // namespace sluice::l7
