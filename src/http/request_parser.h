#pragma once
// Strict HTTP/1.1 request head parser (RFC 9112). Whatever it accepts, every RFC-compliant
// backend reads the same way; anything ambiguous is an error, answered and closed. It parses a
// complete head in one pass and allocates nothing once the header vector has warmed up.
#include <cstdint>
#include <string_view>

#include "http/message.h"
#include "http/parse_result.h"

namespace sluice::http {

struct RequestLimits {
  uint32_t max_request_line = 8 * 1024;
  uint32_t max_header_bytes = 64 * 1024;
  uint32_t max_headers = 100;
};

class RequestParser {
 public:
  explicit RequestParser(RequestLimits limits) : limits_(limits) {}

  // Parses `buf` from its start. Returns kIncomplete until the whole head is present (the caller
  // appends more bytes and calls again; already scanned bytes are not searched twice).
  ParseResult parse(std::string_view buf, RequestHead* out);
  void reset() { scanned_ = 0; }

  // A head whose parts arrived already split (HTTP/2): `out` has the method, target, host (may
  // be empty) and fields (without Host) filled in, views that must outlive the head. Checks
  // them as parse() would an HTTP/1.1 head, then sets ids, path, query and framing. A success
  // has consumed 0 (no bytes were the head).
  ParseResult accept_fields(RequestHead* out) const;

 private:
  ParseResult parse_head(std::string_view head, RequestHead* out);
  // Host, target form, path and query, framing: what both kinds of head share.
  ParseResult finish(int host_count, RequestHead* out) const;
  RequestLimits limits_;
  size_t scanned_ = 0;
};

}  // namespace sluice::http
