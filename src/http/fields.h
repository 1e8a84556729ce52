#pragma once
// Header field lines and the framing they imply (RFC 9112 sections 5, 6 and 9), shared by the
// request and response parsers and the chunked trailer section.
#include <cstdint>
#include <string_view>
#include <vector>

#include "http/message.h"
#include "http/parse_result.h"

namespace sluice::http {

// No byte of `value` is forbidden in a field value (RFC 9110 5.5: CTLs other than HTAB, DEL).
bool is_field_value(std::string_view value);

// `block` holds field lines, each ending in CRLF, without the empty line that ends the head.
ParseResult parse_field_lines(std::string_view block, uint32_t max_fields,
                              std::vector<Header>* out);

struct FramingInput {
  const std::vector<Header>* headers = nullptr;
  int version_minor = 1;
  bool is_request = true;
};

// Fills `framing` from Content-Length, Transfer-Encoding, Connection and Expect; rejects every
// ambiguous combination (RFC 9112 6.1, 6.3; RFC 9110 8.6).
ParseResult derive_framing(const FramingInput& in, Framing* framing);

// Position just after the first "\r\n\r\n" at or after `from`, or npos. Walks line ends with
// memchr (vectorised in libc), which is cheaper than memmem for a head of a few short lines.
size_t find_head_end(std::string_view buf, size_t from);

// Content-Length value: 1*DIGIT, or a list of identical such values; no sign, no overflow.
bool parse_content_length(std::string_view value, uint64_t* out);

}  // namespace sluice::http
