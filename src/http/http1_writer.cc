#include "http/http1_writer.h"

#include <charconv>

namespace sluice::http {

void write_request_head(const Request& req, std::string* out, bool websocket_upgrade) {
  using namespace std::string_view_literals;  // appends of known length, no strlen
  out->append(req.method).push_back(' ');
  out->append(req.path);
  if (!req.query.empty()) out->append("?"sv).append(req.query);
  out->append(" HTTP/1.1\r\nHost: "sv).append(req.authority).append("\r\n"sv);
  for (const auto& h : req.headers)
    out->append(h.name).append(": "sv).append(h.value).append("\r\n"sv);
  if (websocket_upgrade) out->append("Connection: upgrade\r\nUpgrade: websocket\r\n"sv);
  switch (req.body.kind) {
    case BodyLength::Kind::kKnown: {
      char digits[24];
      auto end = std::to_chars(digits, digits + sizeof(digits), req.body.length).ptr;
      out->append("Content-Length: "sv).append(digits, end).append("\r\n"sv);
      break;
    }
    case BodyLength::Kind::kUntilEnd:
      out->append("Transfer-Encoding: chunked\r\n"sv);
      break;
    case BodyLength::Kind::kNone:
      break;
  }
  out->append("\r\n"sv);
}

}  // namespace sluice::http
