#include "http/fields.h"

#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "http/grammar.h"

namespace sluice::http {
namespace {

// The first byte at or after `p` that may not be in a field value (a CTL other than HTAB, or
// DEL; RFC 9110 5.5): CR at the end of the line when the value is valid. Values are most of a
// head's bytes, so they are checked 16 at a time; the rest goes through the table.
const char* skip_field_value(const char* p, const char* end) {
#if defined(__SSE2__)
  const __m128i ctl_max = _mm_set1_epi8(0x1f);
  const __m128i tab = _mm_set1_epi8('\t');
  const __m128i del = _mm_set1_epi8(0x7f);
  while (end - p >= 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    __m128i bad = _mm_cmpeq_epi8(_mm_min_epu8(v, ctl_max), v);  // v <= 0x1f, unsigned
    bad = _mm_andnot_si128(_mm_cmpeq_epi8(v, tab), bad);
    bad = _mm_or_si128(bad, _mm_cmpeq_epi8(v, del));
    if (const int mask = _mm_movemask_epi8(bad))
      return p + __builtin_ctz(static_cast<unsigned>(mask));
    p += 16;
  }
#endif
  while (p < end && kFieldValueChar[static_cast<uint8_t>(*p)]) ++p;
  return p;
}

// The first byte at or after `p` that is not a token character (RFC 9110 5.6.2): the ':' after
// a valid field name. Names are nearly always letters, digits and '-', checked 16 at a time;
// from the first other byte on, the table decides.
const char* skip_token(const char* p, const char* end) {
#if defined(__SSE2__)
  while (end - p >= 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    // Signed compares: bytes from 0x80 up are negative and fall outside every range.
    const __m128i lower = _mm_or_si128(v, _mm_set1_epi8(0x20));
    const __m128i alpha = _mm_and_si128(_mm_cmpgt_epi8(lower, _mm_set1_epi8('a' - 1)),
                                        _mm_cmplt_epi8(lower, _mm_set1_epi8('z' + 1)));
    const __m128i digit = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('0' - 1)),
                                        _mm_cmplt_epi8(v, _mm_set1_epi8('9' + 1)));
    const __m128i ok =
        _mm_or_si128(_mm_or_si128(alpha, digit), _mm_cmpeq_epi8(v, _mm_set1_epi8('-')));
    if (const int other = ~_mm_movemask_epi8(ok) & 0xffff) {
      p += __builtin_ctz(static_cast<unsigned>(other));
      break;
    }
    p += 16;
  }
#endif
  while (p < end && kTokenChar[static_cast<uint8_t>(*p)]) ++p;
  return p;
}

}  // namespace

bool is_field_value(std::string_view value) {
  const char* end = value.data() + value.size();
  return skip_field_value(value.data(), end) == end;
}

ParseResult parse_field_lines(std::string_view block, uint32_t max_fields,
                              std::vector<Header>* out) {
  // One pass per line: the name through the token table, the value through the field-value
  // table, which also stops at CR, so no separate search for the line end is needed.
  const char* p = block.data();
  const char* const end = p + block.size();
  while (p < end) {
    if (*p == ' ' || *p == '\t')
      return ParseResult::error(400, "obsolete line folding");  // 9112 5.2
    const char* name_start = p;
    p = skip_token(p, end);
    if (p == end || *p != ':') {
      // Covers "Name : v" (whitespace before the colon, RFC 9112 5.1) and non-token bytes.
      bool space = p < end && (*p == ' ' || *p == '\t');
      return ParseResult::error(400, space ? "whitespace between header name and colon"
                                     : (p < end && *p == '\n') ? "bare LF in header section"
                                                               : "invalid header name");
    }
    if (p == name_start) return ParseResult::error(400, "empty header name");
    std::string_view name(name_start, static_cast<size_t>(p - name_start));
    const char* value_start = ++p;
    p = skip_field_value(p, end);
    if (p + 1 >= end || p[0] != '\r' || p[1] != '\n') {
      if (p < end && *p == '\n')
        return ParseResult::error(400, "bare LF in header section");        // 9112 2.2
      return ParseResult::error(400, "control character in header value");  // RFC 9110 5.5
    }
    std::string_view value(value_start, static_cast<size_t>(p - value_start));
    p += 2;
    if (out->size() >= max_fields) return ParseResult::error(431, "too many header fields");
    out->push_back({name, trim_ows(value), classify_header(name)});
  }
  return ParseResult::done(block.size());
}

size_t find_head_end(std::string_view buf, size_t from) {
  const char* base = buf.data();
  size_t pos = from;
  while (pos < buf.size()) {
    const void* lf = std::memchr(base + pos, '\n', buf.size() - pos);
    if (!lf) return std::string_view::npos;
    size_t i = static_cast<size_t>(static_cast<const char*>(lf) - base);
    if (i >= 3 && base[i - 1] == '\r' && base[i - 2] == '\n' && base[i - 3] == '\r') return i + 1;
    pos = i + 1;
  }
  return std::string_view::npos;
}

bool parse_content_length(std::string_view value, uint64_t* out) {
  // A list like "42, 42" is one value sent twice (RFC 9110 8.6); anything else is invalid.
  bool have = false;
  uint64_t result = 0;
  size_t pos = 0;
  while (true) {
    size_t comma = value.find(',', pos);
    std::string_view item =
        trim_ows(value.substr(pos, comma == std::string_view::npos ? value.npos : comma - pos));
    if (item.empty() || item.size() > 19) return false;
    uint64_t v = 0;
    for (char c : item) {
      if (c < '0' || c > '9') return false;
      v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    if (have && v != result) return false;
    result = v;
    have = true;
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  *out = result;
  return true;
}

namespace {

// Calls fn(token) for each comma-separated element of a list field, skipping empty elements
// (RFC 9110 5.6.1). Returns false if fn does.
template <typename Fn>
bool for_each_list_item(std::string_view value, Fn&& fn) {
  size_t pos = 0;
  while (pos <= value.size()) {
    size_t comma = value.find(',', pos);
    auto item =
        trim_ows(value.substr(pos, comma == std::string_view::npos ? value.npos : comma - pos));
    if (!item.empty() && !fn(item)) return false;
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return true;
}

}  // namespace

ParseResult derive_framing(const FramingInput& in, Framing* f) {
  bool have_cl = false;
  bool have_te = false;
  bool chunked_final = false;
  uint64_t cl = 0;
  bool conn_close = false;
  bool conn_keep_alive = false;
  int te_error = 0;

  for (const auto& h : *in.headers) {
    if (h.id == HeaderId::kOther) continue;
    if (h.id == HeaderId::kContentLength) {
      uint64_t v = 0;
      if (!parse_content_length(h.value, &v))
        return ParseResult::error(400, "invalid Content-Length");
      if (have_cl && v != cl) return ParseResult::error(400, "conflicting Content-Length values");
      cl = v;
      have_cl = true;
    } else if (h.id == HeaderId::kTransferEncoding) {
      have_te = true;
      bool ok = for_each_list_item(h.value, [&](std::string_view coding) {
        // Parameters on a coding (";q=") are not allowed in Transfer-Encoding for our purpose.
        if (chunked_final) {
          te_error = 400;  // chunked must be applied last, and only once (RFC 9112 6.1)
          return false;
        }
        if (iequals(coding, "chunked")) {
          chunked_final = true;
          return true;
        }
        te_error = is_token(coding) ? 501 : 400;  // codings other than chunked are not implemented
        return false;
      });
      if (!ok) {
        return ParseResult::error(te_error, te_error == 501 ? "unsupported transfer coding"
                                                            : "invalid Transfer-Encoding");
      }
      if (h.value.empty() || trim_ows(h.value).empty()) {
        return ParseResult::error(400, "empty Transfer-Encoding");
      }
    } else if (h.id == HeaderId::kConnection) {
      bool ok = for_each_list_item(h.value, [&](std::string_view token) {
        if (!is_token(token)) return false;
        if (iequals(token, "close")) {
          conn_close = true;
        } else if (iequals(token, "keep-alive")) {
          conn_keep_alive = true;
        } else {
          f->connection_tokens.push_back(token);
        }
        return true;
      });
      if (!ok) return ParseResult::error(400, "invalid Connection header");
    } else if (in.is_request && h.id == HeaderId::kExpect) {
      if (!iequals(trim_ows(h.value), "100-continue")) {
        return ParseResult::error(417, "unsupported expectation");
      }
      f->expect_continue = true;
    } else if (h.id == HeaderId::kUpgrade) {
      f->has_upgrade = true;
    }
  }

  if (have_te) {
    if (in.version_minor == 0) {
      // RFC 9112 6.1: Transfer-Encoding in an HTTP/1.0 message means the framing is faulty.
      return ParseResult::error(400, "Transfer-Encoding in an HTTP/1.0 message");
    }
    if (have_cl) return ParseResult::error(400, "both Content-Length and Transfer-Encoding");
    if (!chunked_final) {
      // A request must end with chunked (RFC 9112 6.3 point 4); a response without final
      // chunked is delimited by close.
      if (in.is_request) return ParseResult::error(400, "chunked is not the final transfer coding");
      f->body = BodyKind::kUntilClose;
    } else {
      f->body = BodyKind::kChunked;
    }
  } else if (have_cl) {
    f->content_length = cl;
    f->has_content_length = true;
    f->body = cl > 0 ? BodyKind::kContentLength : BodyKind::kNone;
  } else {
    f->body = in.is_request ? BodyKind::kNone : BodyKind::kUntilClose;
  }

  if (in.version_minor == 0) {
    f->keep_alive = conn_keep_alive && !conn_close;
  } else {
    f->keep_alive = !conn_close;
  }
  if (f->body == BodyKind::kUntilClose) f->keep_alive = false;
  return ParseResult::done(0);
}

}  // namespace sluice::http
