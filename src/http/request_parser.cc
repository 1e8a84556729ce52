#include "http/request_parser.h"

#include <cstring>

#include "http/fields.h"
#include "http/grammar.h"

namespace sluice::http {
namespace {

bool valid_target(std::string_view t) {
  for (size_t i = 0; i < t.size(); ++i) {
    char c = t[i];
    if (!kTargetChar[static_cast<uint8_t>(c)]) return false;
    if (c == '%') {
      if (i + 2 >= t.size()) return false;
      if (hex_value(t[i + 1]) < 0 || hex_value(t[i + 2]) < 0) return false;
      i += 2;
    }
  }
  return true;
}

// uri-host [ ":" port ] (RFC 9110 7.2); empty is allowed only where the caller says so.
bool valid_host(std::string_view h) {
  if (h.empty()) return false;
  bool bracket = false;  // noted in the same pass (find_first_of was a memchr per byte)
  for (char c : h) {
    if (!kHostChar[static_cast<uint8_t>(c)]) return false;
    bracket |= c == '[' || c == ']';
  }
  if (h.front() == '[') {
    auto close = h.find(']');
    if (close == std::string_view::npos) return false;
    h = h.substr(close + 1);
    if (h.empty()) return true;
    if (h.front() != ':') return false;
  } else if (bracket) {
    return false;
  }
  auto colon = h.rfind(':');
  if (colon == std::string_view::npos) return true;
  if (h.substr(0, colon).find(':') != std::string_view::npos) return false;
  auto port = h.substr(colon + 1);
  if (port.size() > 5) return false;
  for (char c : port) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

}  // namespace

ParseResult RequestParser::parse(std::string_view buf, RequestHead* out) {
  // RFC 9112 2.2: ignore empty lines before the request line (bounded by the head limit).
  size_t start = 0;
  while (start + 1 < buf.size() && buf[start] == '\r' && buf[start + 1] == '\n') start += 2;
  if (start > 0 && start == buf.size()) return ParseResult::incomplete();

  size_t from = scanned_ > start + 3 ? scanned_ - 3 : start;
  size_t head_end = find_head_end(buf, from);
  const bool found = head_end != std::string_view::npos;
  if (!found) {
    scanned_ = buf.size();
    std::string_view pending = buf.substr(start);
    size_t line_end = pending.find('\n');
    size_t line_length = line_end == std::string_view::npos ? pending.size() : line_end;
    if (line_length > limits_.max_request_line) {
      return ParseResult::error(414, "request line too long");
    }
    if (pending.size() > limits_.max_header_bytes) {
      return ParseResult::error(431, "request header section too large");
    }
    // A bare LF must not make us wait forever for a CRLFCRLF that will never come.
    if (pending.find("\n\n") != std::string_view::npos ||
        pending.find("\n\r\n") != std::string_view::npos) {
      return ParseResult::error(400, "bare LF in request head");
    }
    return ParseResult::incomplete();
  }
  if (head_end - start > limits_.max_header_bytes) {
    return ParseResult::error(431, "request header section too large");
  }
  scanned_ = 0;
  auto result = parse_head(buf.substr(start, head_end - start - 2), out);
  if (result.ok()) result.consumed = head_end;
  return result;
}

ParseResult RequestParser::parse_head(std::string_view head, RequestHead* out) {
  out->clear();
  // request-line = method SP request-target SP HTTP-version CRLF   (RFC 9112 3)
  size_t eol = head.find('\n');
  if (eol == 0 || head[eol - 1] != '\r') return ParseResult::error(400, "bare LF in request line");
  std::string_view line = head.substr(0, eol - 1);
  if (line.size() > limits_.max_request_line)
    return ParseResult::error(414, "request line too long");

  size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return ParseResult::error(400, "malformed request line");
  out->method = line.substr(0, sp1);
  if (!is_token(out->method)) return ParseResult::error(400, "invalid method");
  size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return ParseResult::error(400, "malformed request line");
  out->target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' ||
      version[5] < '0' || version[5] > '9' || version[7] < '0' || version[7] > '9') {
    return ParseResult::error(400, "malformed HTTP version");
  }
  if (version[5] != '1') return ParseResult::error(505, "HTTP version not supported");
  out->version_minor = version[7] == '0' ? 0 : 1;  // 1.x with x > 1 is served as 1.1
  if (out->target.empty() || !valid_target(out->target)) {
    return ParseResult::error(400, "invalid request target");
  }

  auto r = parse_field_lines(head.substr(eol + 1), limits_.max_headers, &out->headers);
  if (r.is_error()) return r;

  // Host (RFC 9112 3.2): exactly one in HTTP/1.1; its value must be a valid authority.
  int host_count = 0;
  for (const auto& h : out->headers) {
    if (h.id == HeaderId::kHost) {
      ++host_count;
      out->host = h.value;
    }
  }
  return finish(host_count, out);
}

ParseResult RequestParser::accept_fields(RequestHead* out) const {
  // The same rules as for an HTTP/1.1 head, on fields that arrived as HTTP/2 (or were built by
  // sluice): nothing accepted here could be read differently by an HTTP/1.1 backend.
  if (out->headers.size() > limits_.max_headers)
    return ParseResult::error(431, "too many header fields");
  if (!is_token(out->method)) return ParseResult::error(400, "invalid method");
  if (out->target.empty() || out->target.size() > limits_.max_request_line ||
      !valid_target(out->target)) {
    return ParseResult::error(400, "invalid request target");
  }
  for (auto& h : out->headers) {
    if (!is_token(h.name)) return ParseResult::error(400, "invalid header name");
    if (!is_field_value(h.value))
      return ParseResult::error(400, "control character in header value");
    h.value = trim_ows(h.value);
    h.id = classify_header(h.name);
    if (h.id == HeaderId::kHost) return ParseResult::error(400, "duplicate Host header");
  }
  return finish(out->host.empty() ? 0 : 1, out);
}

ParseResult RequestParser::finish(int host_count, RequestHead* out) const {
  if (host_count > 1) return ParseResult::error(400, "duplicate Host header");
  if (host_count == 0 && out->version_minor == 1)
    return ParseResult::error(400, "missing Host header");
  if (host_count == 1 && !valid_host(out->host) &&
      !(out->host.empty() && out->version_minor == 0)) {
    return ParseResult::error(400, "invalid Host header");
  }

  // request-target forms (RFC 9112 3.2.1-3.2.4)
  std::string_view t = out->target;
  if (t.front() == '/') {
    // origin-form
  } else if (t == "*") {
    if (out->method != "OPTIONS")
      return ParseResult::error(400, "asterisk-form is only for OPTIONS");
  } else if (out->method == "CONNECT") {
    return ParseResult::error(405, "CONNECT is not supported");
  } else {
    // absolute-form: the authority replaces Host (RFC 9112 3.2.2)
    size_t scheme_end = t.find("://");
    if (scheme_end == std::string_view::npos ||
        !(iequals(t.substr(0, scheme_end), "http") || iequals(t.substr(0, scheme_end), "https"))) {
      return ParseResult::error(400, "invalid request target");
    }
    std::string_view rest = t.substr(scheme_end + 3);
    size_t path_start = rest.find_first_of("/?");
    std::string_view authority = rest.substr(0, path_start);
    if (authority.find('@') != std::string_view::npos || !valid_host(authority)) {
      return ParseResult::error(400, "invalid authority in request target");
    }
    out->host = authority;
    t = path_start == std::string_view::npos ? std::string_view("/") : rest.substr(path_start);
    if (t.front() == '?') return ParseResult::error(400, "invalid request target");
  }
  size_t q = t.find('?');
  out->path = t.substr(0, q);
  out->query = q == std::string_view::npos ? std::string_view() : t.substr(q + 1);

  FramingInput fi{&out->headers, out->version_minor, true};
  return derive_framing(fi, &out->framing);
}

}  // namespace sluice::http
