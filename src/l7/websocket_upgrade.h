#pragma once
// Which requests are WebSocket handshakes that sluice forwards with their Upgrade, and which
// answers switch to one (RFC 6455 4.1). Any other Upgrade (h2c above all: smuggling) is dropped
// with the other fields of the connection.
#include <string>

#include "http/message.h"

namespace sluice::l7 {

// A GET over HTTP/1.1 without a body, `Connection: upgrade`, `Upgrade: websocket`.
bool is_websocket_upgrade(const http::RequestHead& req);
// A 101 whose Upgrade names websocket.
bool is_websocket_switch(const http::ResponseHead& resp);
// A Sec-WebSocket-Key for a handshake sluice makes (an HTTP/2 client's has none, RFC 8441 5).
std::string make_websocket_key();

}  // namespace sluice::l7
