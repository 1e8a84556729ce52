#pragma once
// One header field as every codec sees it: name and value as views (into a receive buffer, a
// stream's storage or an exchange's Arena), and the id of the names the proxy acts on.
#include <cstdint>
#include <string_view>

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

inline char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

// True if the comma-separated field value has `token` (case-insensitive) as one element.
bool list_has_token(std::string_view value, std::string_view token);

// Fields that describe one connection, not the message (RFC 9110 7.6.1, RFC 9113 8.2.2): never
// forwarded as they are, never sent in HTTP/2. The names a Connection header lists are too;
// see is_hop_by_hop.
inline bool is_connection_specific(HeaderId id) {
  return id == HeaderId::kConnection || id == HeaderId::kKeepAlive ||
         id == HeaderId::kProxyConnection || id == HeaderId::kTransferEncoding ||
         id == HeaderId::kUpgrade || id == HeaderId::kTe;
}

}  // namespace sluice::http
