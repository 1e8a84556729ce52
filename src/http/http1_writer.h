#pragma once
// The HTTP/1.1 wire form of a neutral message head: what the HTTP/1 codec writes toward a
// backend. Framing is derived here from the body's facts, never copied from fields: a known
// length is a Content-Length, an unknown one chunked (RFC 9112 6).
#include <string>
#include <string_view>

#include "http/message.h"

namespace sluice::http {

// Appends the request line, Host (the authority), the fields (which must hold no connection-
// specific ones, Host or Content-Length), `upgrade` lines when set (the pair a WebSocket
// handshake needs), the body's framing and the empty line.
void write_request_head(const Request& req, std::string* out, bool websocket_upgrade = false);

}  // namespace sluice::http
