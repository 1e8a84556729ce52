#include "http/message.h"

#include <cstdint>
#include <cstring>

namespace sluice::http {

const Header* RequestHead::find(std::string_view lower_name) const {
  for (const auto& h : headers) {
    if (iequals(h.name, lower_name)) return &h;
  }
  return nullptr;
}

namespace {

// `name` (a valid token: letters, digits and "!#$%&'*+-.^_`|~") equals `lower`, ignoring case.
// OR-ing 0x20 lowercases letters and leaves '-' as it is; no other token byte becomes a letter
// or '-' that way, so 8 bytes compare at once.
bool token_equals(std::string_view name, std::string_view lower) {
  const size_t n = lower.size();
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t a, b;
    std::memcpy(&a, name.data() + i, 8);
    std::memcpy(&b, lower.data() + i, 8);
    if ((a | 0x2020202020202020ULL) != b) return false;
  }
  for (; i < n; ++i) {
    if ((name[i] | 0x20) != lower[i]) return false;
  }
  return true;
}

}  // namespace

HeaderId classify_header(std::string_view n) {
  // Dispatch on length first: most names are rejected by one integer compare.
  const auto iequals = token_equals;  // the names here come from parse_field_lines: tokens
  switch (n.size()) {
    case 2:
      return iequals(n, "te") ? HeaderId::kTe : HeaderId::kOther;
    case 4:
      return iequals(n, "host") ? HeaderId::kHost : HeaderId::kOther;
    case 6:
      if (iequals(n, "expect")) return HeaderId::kExpect;
      if (iequals(n, "cookie")) return HeaderId::kCookie;
      return HeaderId::kOther;
    case 7:
      return iequals(n, "upgrade") ? HeaderId::kUpgrade : HeaderId::kOther;
    case 9:
      return iequals(n, "forwarded") ? HeaderId::kForwarded : HeaderId::kOther;
    case 10:
      if (iequals(n, "connection")) return HeaderId::kConnection;
      if (iequals(n, "keep-alive")) return HeaderId::kKeepAlive;
      return HeaderId::kOther;
    case 14:
      return iequals(n, "content-length") ? HeaderId::kContentLength : HeaderId::kOther;
    case 15:
      return iequals(n, "x-forwarded-for") ? HeaderId::kXForwardedFor : HeaderId::kOther;
    case 16:
      if (iequals(n, "proxy-connection")) return HeaderId::kProxyConnection;
      if (iequals(n, "x-forwarded-host")) return HeaderId::kXForwardedHost;
      return HeaderId::kOther;
    case 17:
      if (iequals(n, "transfer-encoding")) return HeaderId::kTransferEncoding;
      if (iequals(n, "x-forwarded-proto")) return HeaderId::kXForwardedProto;
      return HeaderId::kOther;
    default:
      return HeaderId::kOther;
  }
}

bool is_hop_by_hop(const Header& header, const Framing& framing) {
  if (is_connection_specific(header.id)) return true;
  for (auto t : framing.connection_tokens) {
    if (iequals(header.name, t)) return true;
  }
  return false;
}

bool list_has_token(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    auto comma = value.find(',');
    auto item = value.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (iequals(item, token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace sluice::http
