#include "l7/router.h"

#include "http/grammar.h"
#include "l7/request_key.h"

namespace sluice::l7 {
namespace {

using config::ValueMatch;

std::unique_ptr<RE2> compile(const std::string& pattern) {
  RE2::Options options;
  options.set_log_errors(false);
  return std::make_unique<RE2>(pattern, options);  // validated by the config loader
}

std::vector<std::unique_ptr<RE2>> compile_all(const std::vector<ValueMatch>& matches) {
  std::vector<std::unique_ptr<RE2>> out;
  for (const auto& m : matches) {
    out.push_back(m.kind == ValueMatch::Kind::kRegex ? compile(m.value) : nullptr);
  }
  return out;
}

bool value_ok(const ValueMatch& m, const RE2* re, std::string_view value) {
  switch (m.kind) {
    case ValueMatch::Kind::kExact:
      return value == m.value;
    case ValueMatch::Kind::kRegex:
      return RE2::FullMatch(re2::StringPiece(value.data(), value.size()), *re);
    case ValueMatch::Kind::kPresent:
      return true;
    case ValueMatch::Kind::kAbsent:
      return false;
  }
  return false;
}

// Applies one name/value matcher over a set of (name, value) pairs produced by `each`.
template <typename Each>
bool pairs_match(const ValueMatch& m, const RE2* re, Each&& each) {
  bool found = false;
  bool matched = false;
  each(
      [&](std::string_view name, std::string_view value) {
        if (matched) return;
        found = true;
        if (value_ok(m, re, value)) matched = true;
        (void)name;
      },
      m.name);
  if (m.kind == ValueMatch::Kind::kAbsent) return !found;
  return matched;
}

bool host_ok(const std::vector<std::string>& hosts, std::string_view host) {
  for (const auto& h : hosts) {
    if (h.size() > 2 && h[0] == '*' && h[1] == '.') {
      std::string_view suffix = std::string_view(h).substr(1);  // ".example.com"
      if (host.size() > suffix.size() && host.substr(host.size() - suffix.size()) == suffix) {
        return true;
      }
    } else if (host == h) {
      return true;
    }
  }
  return false;
}

}  // namespace

void canonical_host(std::string_view host, std::string* out) {
  out->clear();
  if (!host.empty() && host.front() == '[') {
    auto close = host.find(']');
    host = host.substr(0, close == std::string_view::npos ? host.size() : close + 1);
  } else if (auto colon = host.rfind(':'); colon != std::string_view::npos) {
    host = host.substr(0, colon);
  }
  if (!host.empty() && host.back() == '.')
    host.remove_suffix(1);  // "example.com." is the same host
  for (char c : host) out->push_back(http::ascii_lower(c));
}

bool path_segment_prefix_matches(std::string_view prefix, std::string_view path) {
  while (!prefix.empty() && prefix.back() == '/') prefix.remove_suffix(1);
  if (path.substr(0, prefix.size()) != prefix) return false;
  return path.size() == prefix.size() || path[prefix.size()] == '/';
}

bool percent_decode(std::string_view in, bool plus_is_space, std::string* out) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      int hi = http::hex_value(in[i + 1]);
      int lo = http::hex_value(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out->push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out->push_back(' ');
    } else {
      out->push_back(c);
    }
  }
  return true;
}

Router::Router(const config::Listener& listener, const config::Config& config) {
  for (uint32_t i = 0; i < listener.routes.size(); ++i) {
    const auto& r = listener.routes[i];
    CompiledRoute cr;
    cr.route = &r;
    cr.index = i;
    for (uint32_t c = 0; c < config.clusters.size(); ++c) {
      if (config.clusters[c].name == r.cluster) cr.cluster_index = c;
    }
    if (r.match.path_regex) cr.path_regex = compile(*r.match.path_regex);
    cr.header_regex = compile_all(r.match.headers);
    cr.query_regex = compile_all(r.match.query);
    cr.cookie_regex = compile_all(r.match.cookies);
    routes_.push_back(std::move(cr));
  }
}

const CompiledRoute* Router::match(const RouteInput& in) const {
  for (const auto& r : routes_) {
    if (!mismatch(r, in)) return &r;
  }
  return nullptr;
}

const char* Router::mismatch(const CompiledRoute& route, const RouteInput& in) const {
  const auto& m = route.route->match;
  if (!m.hosts.empty() && !host_ok(m.hosts, in.host)) return "host";
  if (!m.sni.empty() && !host_ok(m.sni, in.sni)) return "sni";
  if (!m.methods.empty()) {
    bool ok = false;
    for (const auto& meth : m.methods) ok = ok || meth == in.method;
    if (!ok) return "method";
  }
  if (m.path_exact && in.path != *m.path_exact) return "path_exact";
  if (m.path_prefix && in.path.substr(0, m.path_prefix->size()) != *m.path_prefix)
    return "path_prefix";
  if (m.path_segment_prefix && !path_segment_prefix_matches(*m.path_segment_prefix, in.path))
    return "path_segment_prefix";
  if (route.path_regex &&
      !RE2::FullMatch(re2::StringPiece(in.path.data(), in.path.size()), *route.path_regex)) {
    return "path_regex";
  }
  if (!m.sources.empty()) {
    bool ok = false;
    for (const auto& c : m.sources) ok = ok || c.contains(in.source);
    if (!ok) return "source";
  }
  if (!m.client_cert_subjects.empty()) {
    bool ok = false;
    for (const auto& subject : m.client_cert_subjects) ok = ok || subject == in.client_cert_subject;
    if (!ok) return "client_cert_subject";
  }
  for (size_t i = 0; i < m.headers.size(); ++i) {
    auto each = [&](auto&& fn, const std::string& name) {
      for (const auto& h : *in.headers) {
        if (http::iequals(h.name, name)) fn(h.name, h.value);
      }
    };
    if (!pairs_match(m.headers[i], route.header_regex[i].get(), each)) return "headers";
  }
  if (!m.query.empty()) {
    std::string decoded_name;
    std::string decoded_value;
    for (size_t i = 0; i < m.query.size(); ++i) {
      auto each = [&](auto&& fn, const std::string& name) {
        std::string_view q = in.query;
        while (!q.empty()) {
          auto amp = q.find('&');
          auto pair = q.substr(0, amp);
          q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
          auto eq = pair.find('=');
          if (!percent_decode(pair.substr(0, eq), true, &decoded_name) || decoded_name != name)
            continue;
          std::string_view raw =
              eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
          if (!percent_decode(raw, true, &decoded_value)) continue;
          fn(decoded_name, decoded_value);
        }
      };
      if (!pairs_match(m.query[i], route.query_regex[i].get(), each)) return "query";
    }
  }
  for (size_t i = 0; i < m.cookies.size(); ++i) {
    auto each = [&](auto&& fn, const std::string& name) {
      if (auto v = find_cookie(*in.headers, name)) fn(name, *v);
    };
    if (!pairs_match(m.cookies[i], route.cookie_regex[i].get(), each)) return "cookie";
  }
  return nullptr;
}

}  // namespace sluice::l7
