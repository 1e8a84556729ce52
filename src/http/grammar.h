#pragma once
// Character classes of RFC 9110/9112/3986, as constexpr tables shared by the codecs.
#include <array>
#include <cstdint>
#include <string_view>

namespace sluice::http {

namespace detail {
constexpr std::array<bool, 256> make_table(std::string_view extra, bool alnum) {
  std::array<bool, 256> t{};
  if (alnum) {
    for (int c = '0'; c <= '9'; ++c) t[c] = true;
    for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
    for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  }
  for (char c : extra) t[static_cast<uint8_t>(c)] = true;
  return t;
}
}  // namespace detail

// tchar (RFC 9110 5.6.2)
inline constexpr auto kTokenChar = detail::make_table("!#$%&'*+-.^_`|~", true);
// unreserved / sub-delims / gen-delims used in a request-target (RFC 3986), plus '%'
inline constexpr auto kTargetChar = detail::make_table("-._~!$&'()*+,;=:@/?%[]", true);
inline constexpr auto kUnreserved = detail::make_table("-._~", true);
// host: reg-name / IPv4 / IP-literal, with optional :port
inline constexpr auto kHostChar = detail::make_table("-._~!$&'()*+,;=:[]%", true);

inline bool is_token_char(char c) { return kTokenChar[static_cast<uint8_t>(c)]; }

// field-vchar / SP / HTAB / obs-text (RFC 9110 5.5): everything but CTLs other than HTAB, and DEL.
inline constexpr auto kFieldValueChar = [] {
  std::array<bool, 256> t{};
  t['\t'] = true;
  for (int c = 0x20; c < 256; ++c) t[c] = c != 0x7f;
  return t;
}();

inline bool is_field_value_char(char c) {
  auto u = static_cast<uint8_t>(c);
  return u == '\t' || (u >= 0x20 && u != 0x7f);
}

inline bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!is_token_char(c)) return false;
  }
  return true;
}

inline int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

inline std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace sluice::http
