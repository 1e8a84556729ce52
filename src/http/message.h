#pragma once
// The HTTP message heads shared by every codec. Names and values are views into the
// connection's receive buffer: parsing allocates nothing, and the views stay valid until the
// connection compacts its buffer (after the head has been forwarded).
#include <cstdint>
#include <string_view>
#include <vector>

namespace sluice::http {

// Header names the codecs and the proxy act on, recognised once while parsing so that later
// stages switch on an id instead of comparing strings again.
enum class HeaderId : uint8_t {
  kOther,
  kHost,
  kContentLength,
  kTransferEncoding,
  kConnection,
  kKeepAlive,
  kProxyConnection,
  kTe,
  kUpgrade,
  kExpect,
  kXForwardedFor,
  kXForwardedProto,
  kXForwardedHost,
  kForwarded,
  kCookie,
};

struct Header {
  std::string_view name;   // as received; compare with iequals
  std::string_view value;  // OWS trimmed
  HeaderId id = HeaderId::kOther;
};

// `name` must be a token (RFC 9110 5.6.2), as parse_field_lines guarantees.
HeaderId classify_header(std::string_view name);

enum class BodyKind : uint8_t { kNone, kContentLength, kChunked, kUntilClose };

// Hop-by-hop and framing facts the parser derived, so that the proxy never re-reads headers.
struct Framing {
  BodyKind body = BodyKind::kNone;
  uint64_t content_length = 0;
  bool has_content_length = false;
  bool keep_alive = true;  // after this message, per version and Connection
  bool expect_continue = false;
  bool has_upgrade = false;
  std::vector<std::string_view> connection_tokens;  // extra hop-by-hop header names
};

struct RequestHead {
  std::string_view method;
  std::string_view target;  // as received
  std::string_view path;    // target's path (origin-form), before normalisation
  std::string_view query;   // without '?', empty if none
  std::string_view host;    // Host header, or authority of an absolute-form target
  int version_minor = 1;    // HTTP/1.x
  std::vector<Header> headers;
  Framing framing;

  void clear() {
    method = target = path = query = host = {};
    version_minor = 1;
    headers.clear();
    framing = Framing{};
  }
  const Header* find(std::string_view lower_name) const;
};

struct ResponseHead {
  int status = 0;
  std::string_view reason;
  int version_minor = 1;
  std::vector<Header> headers;
  Framing framing;

  void clear() {
    status = 0;
    reason = {};
    version_minor = 1;
    headers.clear();
    framing = Framing{};
  }
};

inline char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

// True for headers that only concern one connection (RFC 9110 7.6.1) plus those named in
// Connection; a proxy must not forward them.
bool is_hop_by_hop(const Header& header, const Framing& framing);

}  // namespace sluice::http
