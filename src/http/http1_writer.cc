#include "http/http1_writer.h"

#include <charconv>

#include "http/status.h"

namespace sluice::http {
namespace {

void append_number(std::string* out, uint64_t n) {
  char digits[24];
  auto end = std::to_chars(digits, digits + sizeof(digits), n).ptr;
  out->append(digits, end);
}

}  // namespace

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
    case BodyLength::Kind::kKnown:
      out->append("Content-Length: "sv);
      append_number(out, req.body.length);
      out->append("\r\n"sv);
      break;
    case BodyLength::Kind::kUntilEnd:
      out->append("Transfer-Encoding: chunked\r\n"sv);
      break;
    case BodyLength::Kind::kNone:
      break;
  }
  out->append("\r\n"sv);
}

void write_response_head(const Response& resp, bool chunked, Persistence persistence,
                         std::string* out) {
  using namespace std::string_view_literals;
  out->append("HTTP/1.1 "sv);
  append_number(out, static_cast<uint64_t>(resp.status));
  out->push_back(' ');
  out->append(reason_phrase(resp.status)).append("\r\n"sv);
  for (const auto& h : resp.headers)
    out->append(h.name).append(": "sv).append(h.value).append("\r\n"sv);
  if (resp.body.kind == BodyLength::Kind::kKnown) {
    out->append("Content-Length: "sv);
    append_number(out, resp.body.length);
    out->append("\r\n"sv);
  } else if (resp.body.kind == BodyLength::Kind::kUntilEnd && chunked) {
    out->append("Transfer-Encoding: chunked\r\n"sv);
  }
  if (persistence == Persistence::kClose) {
    out->append("Connection: close\r\n"sv);
  } else if (persistence == Persistence::kKeepAlive) {
    out->append("Connection: keep-alive\r\n"sv);
  }
  out->append("\r\n"sv);
}

}  // namespace sluice::http
