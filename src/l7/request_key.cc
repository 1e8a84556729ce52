#include "l7/request_key.h"

#include "core/hash.h"
#include "http/grammar.h"

namespace sluice::l7 {

std::optional<std::string_view> find_cookie(const std::vector<http::Header>& headers,
                                            std::string_view name) {
  for (const auto& h : headers) {
    if (h.id != http::HeaderId::kCookie) continue;
    std::string_view c = h.value;
    while (!c.empty()) {
      auto semi = c.find(';');
      auto pair = http::trim_ows(c.substr(0, semi));
      c = semi == std::string_view::npos ? std::string_view() : c.substr(semi + 1);
      auto eq = pair.find('=');
      if (eq == std::string_view::npos || pair.substr(0, eq) != name) continue;
      auto value = pair.substr(eq + 1);
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
        value = value.substr(1, value.size() - 2);
      }
      return value;
    }
  }
  return std::nullopt;
}

uint64_t request_hash(const config::HashOn& hash_on, bool source_ip_balance,
                      const http::RequestHead& req, std::string_view normalized_path,
                      const core::IpAddress& source) {
  auto ip_hash = [&] {
    return core::hash_bytes(
        std::string_view(reinterpret_cast<const char*>(source.bytes.data()), 16));
  };
  if (source_ip_balance) return ip_hash();
  switch (hash_on.kind) {
    case config::HashOn::Kind::kHeader:
      for (const auto& h : req.headers) {
        if (http::iequals(h.name, hash_on.name)) return core::hash_bytes(h.value);
      }
      return ip_hash();
    case config::HashOn::Kind::kCookie:
      if (auto v = find_cookie(req.headers, hash_on.name)) return core::hash_bytes(*v);
      return ip_hash();
    case config::HashOn::Kind::kPath:
      return core::hash_bytes(normalized_path);
    case config::HashOn::Kind::kSourceIp:
    case config::HashOn::Kind::kNone:
      return ip_hash();
  }
  return ip_hash();
}

}  // namespace sluice::l7
