#include "http/http1_writer.h"

#include <charconv>
#include <cstring>

#include "http/status.h"

namespace sluice::http {
namespace {

using namespace std::string_view_literals;

// Writes a head into a string in one pass: the caller sizes it first (an upper bound), so that
// each piece is a memcpy, not an append that checks and may grow the capacity (this halved the
// cost of a request head).
class HeadWriter {
 public:
  HeadWriter(std::string* out, size_t bound) : out_(out), start_(out->size()) {
    out->resize(start_ + bound);
    p_ = out->data() + start_;
  }
  ~HeadWriter() { out_->resize(static_cast<size_t>(p_ - out_->data())); }
  HeadWriter(const HeadWriter&) = delete;
  HeadWriter& operator=(const HeadWriter&) = delete;

  HeadWriter& put(std::string_view s) {
    std::memcpy(p_, s.data(), s.size());
    p_ += s.size();
    return *this;
  }
  HeadWriter& put(char c) {
    *p_++ = c;
    return *this;
  }
  HeadWriter& number(uint64_t n) {
    p_ = std::to_chars(p_, p_ + 20, n).ptr;
    return *this;
  }
  void fields(const HeaderList& headers) {
    for (const auto& h : headers) put(h.name).put(": "sv).put(h.value).put("\r\n"sv);
  }

 private:
  std::string* out_;
  size_t start_;
  char* p_;
};

size_t fields_size(const HeaderList& headers) {
  size_t n = 0;
  for (const auto& h : headers) n += h.name.size() + h.value.size() + 4;
  return n;
}

constexpr size_t kFramingBound = 64;  // "Content-Length: <20 digits>\r\n" or chunked, and CRLF

}  // namespace

void write_request_head(const Request& req, std::string* out, bool websocket_upgrade) {
  constexpr auto kUpgrade = "Connection: upgrade\r\nUpgrade: websocket\r\n"sv;
  const size_t bound = req.method.size() + req.path.size() + req.query.size() +
                       req.authority.size() + fields_size(req.headers) + kUpgrade.size() +
                       kFramingBound + 32;
  HeadWriter w(out, bound);
  w.put(req.method).put(' ').put(req.path);
  if (!req.query.empty()) w.put('?').put(req.query);
  w.put(" HTTP/1.1\r\nHost: "sv).put(req.authority).put("\r\n"sv);
  w.fields(req.headers);
  if (websocket_upgrade) w.put(kUpgrade);
  switch (req.body.kind) {
    case BodyLength::Kind::kKnown:
      w.put("Content-Length: "sv).number(req.body.length).put("\r\n"sv);
      break;
    case BodyLength::Kind::kUntilEnd:
      w.put("Transfer-Encoding: chunked\r\n"sv);
      break;
    case BodyLength::Kind::kNone:
      break;
  }
  w.put("\r\n"sv);
}

void write_response_head(const Response& resp, bool chunked, Persistence persistence,
                         std::string* out) {
  const auto reason = reason_phrase(resp.status);
  const size_t bound =
      reason.size() + fields_size(resp.headers) + kFramingBound + 64;  // status, Connection
  HeadWriter w(out, bound);
  w.put("HTTP/1.1 "sv).number(static_cast<uint64_t>(resp.status)).put(' ').put(reason);
  w.put("\r\n"sv);
  w.fields(resp.headers);
  if (resp.body.kind == BodyLength::Kind::kKnown) {
    w.put("Content-Length: "sv).number(resp.body.length).put("\r\n"sv);
  } else if (resp.body.kind == BodyLength::Kind::kUntilEnd && chunked) {
    w.put("Transfer-Encoding: chunked\r\n"sv);
  }
  if (persistence == Persistence::kClose) {
    w.put("Connection: close\r\n"sv);
  } else if (persistence == Persistence::kKeepAlive) {
    w.put("Connection: keep-alive\r\n"sv);
  }
  w.put("\r\n"sv);
}

}  // namespace sluice::http
