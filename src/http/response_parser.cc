#include "http/response_parser.h"

#include <cstring>

#include "http/fields.h"

namespace sluice::http {

ParseResult ResponseParser::parse(std::string_view buf, std::string_view request_method,
                                  ResponseHead* out) {
  size_t from = scanned_ > 3 ? scanned_ - 3 : 0;
  size_t head_end = find_head_end(buf, from);
  const bool found = head_end != std::string_view::npos;
  if (!found) {
    scanned_ = buf.size();
    if (buf.size() > max_header_bytes_) return ParseResult::error(502, "response head too large");
    return ParseResult::incomplete();
  }
  scanned_ = 0;
  if (head_end > max_header_bytes_) return ParseResult::error(502, "response head too large");
  std::string_view head = buf.substr(0, head_end - 2);
  out->clear();

  // status-line = HTTP-version SP status-code SP [ reason-phrase ]   (RFC 9112 4)
  size_t eol = head.find('\n');
  if (eol == 0 || head[eol - 1] != '\r') return ParseResult::error(502, "bare LF in status line");
  std::string_view line = head.substr(0, eol - 1);
  if (line.size() < 12 || line.substr(0, 5) != "HTTP/" || line[5] != '1' || line[6] != '.' ||
      line[7] < '0' || line[7] > '9' || line[8] != ' ') {
    return ParseResult::error(502, "malformed status line");
  }
  out->version_minor = line[7] == '0' ? 0 : 1;
  int status = 0;
  for (int i = 9; i < 12; ++i) {
    if (line[i] < '0' || line[i] > '9') return ParseResult::error(502, "malformed status code");
    status = status * 10 + (line[i] - '0');
  }
  if (status < 100 || status > 599) return ParseResult::error(502, "status code out of range");
  if (line.size() > 12 && line[12] != ' ') return ParseResult::error(502, "malformed status line");
  out->status = status;
  out->reason = line.size() > 13 ? line.substr(13) : std::string_view();
  for (char c : out->reason) {
    if (c != '\t' && (static_cast<uint8_t>(c) < 0x20 || c == 0x7f)) {
      return ParseResult::error(502, "control character in reason phrase");
    }
  }

  auto r = parse_field_lines(head.substr(eol + 1), max_headers_, &out->headers);
  if (r.is_error()) return ParseResult::error(502, r.reason);

  FramingInput fi{&out->headers, out->version_minor, false};
  r = derive_framing(fi, &out->framing);
  if (r.is_error()) return ParseResult::error(502, r.reason);
  // RFC 9112 6.3 points 1 and 2: these never have a body, whatever the headers say.
  if (request_method == "HEAD" || (status >= 100 && status < 200) || status == 204 ||
      status == 304) {
    out->framing.body = BodyKind::kNone;
    out->framing.content_length = out->framing.content_length;  // kept for HEAD's header
    if (status >= 100 && status < 200) out->framing.keep_alive = true;
  }
  return ParseResult::done(head_end);
}

}  // namespace sluice::http
