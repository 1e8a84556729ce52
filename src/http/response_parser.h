#pragma once
// HTTP/1.1 response head parser for the upstream side. Same strictness as the request parser:
// a response that could be framed two ways is a 502, never forwarded.
#include <cstdint>
#include <string_view>

#include "http/message.h"
#include "http/parse_result.h"

namespace sluice::http {

class ResponseParser {
 public:
  ResponseParser(uint32_t max_header_bytes, uint32_t max_headers)
      : max_header_bytes_(max_header_bytes), max_headers_(max_headers) {}

  // `request_method` decides whether a body follows (HEAD), RFC 9112 6.3.
  ParseResult parse(std::string_view buf, std::string_view request_method, ResponseHead* out);
  void reset() { scanned_ = 0; }

 private:
  uint32_t max_header_bytes_;
  uint32_t max_headers_;
  size_t scanned_ = 0;
};

}  // namespace sluice::http
