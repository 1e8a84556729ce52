#pragma once
// The HTTP/1.1 wire form of a neutral message head: what the HTTP/1 codec writes toward a
// backend. Framing is derived here from the body's facts, never copied from fields: a known
// length is a Content-Length, an unknown one chunked (RFC 9112 6).
#include <cstdint>
#include <string>
#include <string_view>

#include "http/message.h"

namespace sluice::http {

// Appends the request line, Host (the authority), the fields (which must hold no connection-
// specific ones, Host or Content-Length), `upgrade` lines when set (the pair a WebSocket
// handshake needs), the body's framing and the empty line.
void write_request_head(const Request& req, std::string* out, bool websocket_upgrade = false);

// How an HTTP/1.x response says what becomes of its connection.
enum class Persistence : uint8_t {
  kDefault,    // HTTP/1.1 keep-alive: nothing to say
  kKeepAlive,  // an HTTP/1.0 client that asked for keep-alive: `Connection: keep-alive`
  kClose,      // `Connection: close`
};

// Appends the status line (with the status's standard reason phrase), the fields (which must
// hold no connection-specific ones), the framing (Content-Length for a known length; chunked
// for an unknown one when `chunked`, else nothing: the close ends it), the Connection field
// `persistence` asks for and the empty line.
void write_response_head(const Response& resp, bool chunked, Persistence persistence,
                         std::string* out);

}  // namespace sluice::http
