#include "config/loader.h"

#include "balance/balancer.h"
#include "tls/certificate.h"

#include <re2/re2.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

namespace sluice::config {

std::string ConfigError::to_string() const {
  return file + ":" + std::to_string(line) + ":" + std::to_string(col) + ": " + message;
}

std::string PacketVip::name() const {
  if (mode == "l3") return "l3 " + address.to_string();
  core::SocketAddress sa{address, port};
  return protocol + " " + sa.to_string();
}

const Cluster* Config::find_cluster(std::string_view name) const {
  for (const auto& c : clusters) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

bool is_token(std::string_view s) {
  static constexpr std::string_view kSpecials = "!#$%&'*+-.^_`|~";
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::isalnum(c) || kSpecials.find(static_cast<char>(c)) != std::string_view::npos;
  });
}

// Walks the YAML tree, converting and checking values; every problem is recorded with the
// position of the node that caused it.
class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}

  std::vector<ConfigError>& errors() { return errors_; }

  // A file named in the config: relative paths are relative to the config file's folder.
  std::optional<std::string> path(const YAML::Node& node, std::string_view what) {
    auto s = string(node, what);
    if (!s) return std::nullopt;
    if (s->empty()) {
      error(node, std::string(what) + " must not be empty");
      return std::nullopt;
    }
    if (s->front() == '/') return s;
    auto slash = file_.rfind('/');
    return slash == std::string::npos ? *s : file_.substr(0, slash + 1) + *s;
  }

  void error(const YAML::Node& node, const std::string& message) {
    const auto mark = node.Mark();
    errors_.push_back({file_, mark.line + 1, mark.column + 1, message});
  }

  SourceMark mark(const YAML::Node& node) { return {node.Mark().line + 1, node.Mark().column + 1}; }

  // Checks that `node` is a map and that all its keys are in `allowed`. Returns false if not a map.
  bool expect_map(const YAML::Node& node, std::string_view what,
                  std::initializer_list<std::string_view> allowed) {
    if (!node.IsMap()) {
      error(node, std::string(what) + " must be a mapping");
      return false;
    }
    std::set<std::string> seen;
    for (const auto& kv : node) {
      const auto key = kv.first.as<std::string>();
      if (!seen.insert(key).second) {
        error(kv.first, "duplicate key '" + key + "' in " + std::string(what));
      }
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        std::string list;
        for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
        error(kv.first, "unknown key '" + key + "' in " + std::string(what) +
                            " (expected one of: " + list + ")");
      }
    }
    return true;
  }

  std::optional<std::string> string(const YAML::Node& node, std::string_view what) {
    if (!node.IsScalar()) {
      error(node, std::string(what) + " must be a string");
      return std::nullopt;
    }
    return node.Scalar();
  }

  std::optional<uint64_t> uint(const YAML::Node& node, std::string_view what, uint64_t min,
                               uint64_t max) {
    if (!node.IsScalar()) {
      error(node, std::string(what) + " must be a number");
      return std::nullopt;
    }
    const auto& s = node.Scalar();
    uint64_t value = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (ec != std::errc() || end != s.data() + s.size() || s.empty()) {
      error(node, std::string(what) + ": '" + s + "' is not a whole number");
      return std::nullopt;
    }
    if (value < min || value > max) {
      error(node, std::string(what) + " must be between " + std::to_string(min) + " and " +
                      std::to_string(max));
      return std::nullopt;
    }
    return value;
  }

  std::optional<bool> boolean(const YAML::Node& node, std::string_view what) {
    if (node.IsScalar()) {
      if (node.Scalar() == "true") return true;
      if (node.Scalar() == "false") return false;
    }
    error(node, std::string(what) + " must be true or false");
    return std::nullopt;
  }

  void duration(const YAML::Node& node, std::string_view what, Millis* out) {
    if (auto s = string(node, what)) {
      if (auto d = core::parse_duration(*s)) {
        *out = *d;
      } else {
        error(node, std::string(what) + ": bad duration '" + *s +
                        "' (write a number and a unit: 250ms, 2s, 1m, 1h)");
      }
    }
  }

  template <typename T>
  void size(const YAML::Node& node, std::string_view what, T* out) {
    if (auto s = string(node, what)) {
      auto v = core::parse_size(*s);
      if (!v || *v > std::numeric_limits<T>::max()) {
        error(node, std::string(what) + ": bad size '" + *s + "' (e.g. 512, 16k, 1m, 1g)");
      } else {
        *out = static_cast<T>(*v);
      }
    }
  }

  std::optional<core::SocketAddress> address(const YAML::Node& node, std::string_view what) {
    auto s = string(node, what);
    if (!s) return std::nullopt;
    auto a = core::SocketAddress::parse(*s);
    if (!a) {
      error(node, std::string(what) + ": bad address '" + *s +
                      "' (expected IP:PORT, e.g. 127.0.0.1:8080 or [::1]:8080)");
    }
    return a;
  }

  // A scalar or a list of scalars.
  std::vector<std::pair<std::string, YAML::Node>> string_list(const YAML::Node& node,
                                                              std::string_view what) {
    std::vector<std::pair<std::string, YAML::Node>> out;
    if (node.IsScalar()) {
      out.emplace_back(node.Scalar(), node);
    } else if (node.IsSequence()) {
      for (const auto& item : node) {
        if (auto s = string(item, what)) out.emplace_back(*s, item);
      }
    } else {
      error(node, std::string(what) + " must be a string or a list of strings");
    }
    return out;
  }

  // `{ name: value }`, `{ name: { regex: re } }`, `{ name: { present: true|false } }`.
  std::vector<ValueMatch> value_matches(const YAML::Node& node, std::string_view what,
                                        bool lower_names) {
    std::vector<ValueMatch> out;
    if (!node.IsMap()) {
      error(node, std::string(what) + " must be a mapping of name to value");
      return out;
    }
    for (const auto& kv : node) {
      ValueMatch m;
      m.name = kv.first.as<std::string>();
      if (lower_names) m.name = lower(m.name);
      if (m.name.empty() || (lower_names && !is_token(m.name))) {
        error(kv.first, std::string(what) + ": '" + m.name + "' is not a valid name");
        continue;
      }
      const auto& v = kv.second;
      if (v.IsScalar()) {
        m.kind = ValueMatch::Kind::kExact;
        m.value = v.Scalar();
      } else if (v.IsMap() && expect_map(v, what, {"exact", "regex", "present"}) && v.size() == 1) {
        if (v["exact"]) {
          m.kind = ValueMatch::Kind::kExact;
          if (auto s = string(v["exact"], "exact")) m.value = *s;
        } else if (v["regex"]) {
          m.kind = ValueMatch::Kind::kRegex;
          if (auto s = string(v["regex"], "regex")) {
            m.value = *s;
            check_regex(v["regex"], *s);
          }
        } else if (v["present"]) {
          auto b = boolean(v["present"], "present");
          m.kind = (b && !*b) ? ValueMatch::Kind::kAbsent : ValueMatch::Kind::kPresent;
        }
      } else {
        error(v, std::string(what) + " '" + m.name +
                     "' must be a value or one of { exact: .. }, { regex: .. }, { present: .. }");
        continue;
      }
      out.push_back(std::move(m));
    }
    return out;
  }

  void check_regex(const YAML::Node& node, const std::string& pattern) {
    RE2 re(pattern, RE2::Quiet);
    if (!re.ok()) error(node, "bad regex '" + pattern + "': " + re.error());
  }

 private:
  std::string file_;
  std::vector<ConfigError> errors_;
};

Match read_match(Reader& r, const YAML::Node& node, bool tls) {
  Match m;
  if (tls) {
    if (r.expect_map(node, "match", {"sni"}) && node["sni"]) {
      for (auto& [h, n] : r.string_list(node["sni"], "sni")) {
        auto name = lower(h);
        auto rest = name.rfind("*.", 0) == 0 ? name.substr(2) : name;
        if (rest.empty() || rest.find_first_of("*:/ ") != std::string::npos) {
          r.error(n, "sni '" + h + "' must be a name or '*.' followed by a name");
          continue;
        }
        m.sni.push_back(name);
      }
    }
    return m;
  }
  if (!r.expect_map(node, "match",
                    {"host", "path_prefix", "path_exact", "path_regex", "method", "headers",
                     "query", "cookie", "source", "client_cert_subject"})) {
    return m;
  }
  if (node["client_cert_subject"]) {
    for (auto& [subject, n] : r.string_list(node["client_cert_subject"], "client_cert_subject"))
      m.client_cert_subjects.push_back(subject);
  }
  if (node["host"]) {
    for (auto& [h, n] : r.string_list(node["host"], "host")) {
      auto host = lower(h);
      auto rest = host.rfind("*.", 0) == 0 ? host.substr(2) : host;
      if (rest.empty() || rest.find_first_of("*:/ ") != std::string::npos) {
        r.error(n, "host '" + h + "' must be a name or '*.' followed by a name (no port)");
        continue;
      }
      m.hosts.push_back(host);
    }
  }
  auto path = [&](const char* key, std::optional<std::string>* out) {
    if (!node[key]) return;
    if (auto s = r.string(node[key], key)) {
      if (s->empty() || (s->front() != '/' && std::string_view(key) != "path_regex")) {
        r.error(node[key], std::string(key) + " must start with '/'");
      }
      *out = *s;
    }
  };
  path("path_prefix", &m.path_prefix);
  path("path_exact", &m.path_exact);
  path("path_regex", &m.path_regex);
  if (m.path_regex) r.check_regex(node["path_regex"], *m.path_regex);
  if (node["method"]) {
    for (auto& [meth, n] : r.string_list(node["method"], "method")) {
      if (!is_token(meth)) {
        r.error(n, "method '" + meth + "' is not a valid HTTP method token");
        continue;
      }
      m.methods.push_back(meth);
    }
  }
  if (node["headers"]) m.headers = r.value_matches(node["headers"], "headers", true);
  if (node["query"]) m.query = r.value_matches(node["query"], "query", false);
  if (node["cookie"]) m.cookies = r.value_matches(node["cookie"], "cookie", false);
  if (node["source"]) {
    for (auto& [s, n] : r.string_list(node["source"], "source")) {
      if (auto c = core::Cidr::parse(s)) {
        m.sources.push_back(*c);
      } else {
        r.error(n, "source '" + s + "' is not a CIDR (e.g. 10.0.0.0/8, ::1/128)");
      }
    }
  }
  return m;
}

ListenerTls read_listener_tls(Reader& r, const YAML::Node& node) {
  ListenerTls t;
  t.mark = r.mark(node);
  if (!r.expect_map(
          node, "tls",
          {"certificates", "alpn", "min_version", "ciphers", "ciphersuites", "session_tickets",
           "tickets_per_handshake", "ticket_keys_file", "ticket_key_rotation", "session_cache",
           "session_timeout", "client_ca", "client_auth", "client_cert_header"})) {
    return t;
  }
  auto certs = node["certificates"];
  if (!certs || !certs.IsSequence() || certs.size() == 0) {
    r.error(certs ? certs : node, "tls needs 'certificates': a list of { cert, key }");
  } else {
    bool have_default = false;
    for (const auto& c : certs) {
      TlsCertificate cert;
      cert.mark = r.mark(c);
      if (!r.expect_map(c, "certificate", {"cert", "key", "ocsp", "default"})) continue;
      if (!c["cert"] || !c["key"]) {
        r.error(c, "a certificate needs 'cert' and 'key' (PEM files)");
        continue;
      }
      auto cert_path = r.path(c["cert"], "cert");
      auto key_path = r.path(c["key"], "key");
      if (!cert_path || !key_path) continue;
      cert.cert = *cert_path;
      cert.key = *key_path;
      if (auto why = tls::check_key_pair(cert.cert, cert.key); !why.empty()) {
        r.error(why.find("key '") == 0 ? c["key"] : c["cert"], why);
        continue;
      }
      if (c["ocsp"]) {
        if (auto o = r.path(c["ocsp"], "ocsp")) {
          if (auto why = tls::check_ocsp_file(*o); !why.empty()) {
            r.error(c["ocsp"], why);
          } else {
            cert.ocsp = *o;
          }
        }
      }
      if (c["default"]) {
        if (auto b = r.boolean(c["default"], "default"); b && *b) {
          if (have_default) r.error(c["default"], "only one certificate can be the default");
          have_default = true;
          t.default_certificate = t.certificates.size();
        }
      }
      t.certificates.push_back(std::move(cert));
    }
  }
  if (node["alpn"]) {
    t.alpn.clear();
    for (auto& [proto, n] : r.string_list(node["alpn"], "alpn")) {
      if (proto != "h2" && proto != "http/1.1") {
        r.error(n, "alpn '" + proto + "' is not one of h2, http/1.1");
      } else {
        t.alpn.push_back(proto);
      }
    }
  }
  if (node["min_version"]) {
    if (auto v = r.string(node["min_version"], "min_version")) {
      if (*v == "1.2") {
        t.min_version = 12;
      } else if (*v == "1.3") {
        t.min_version = 13;
      } else {
        r.error(node["min_version"],
                "min_version must be \"1.2\" or \"1.3\" (older versions are unsafe)");
      }
    }
  }
  if (node["ciphers"]) {
    if (auto v = r.string(node["ciphers"], "ciphers")) t.ciphers = *v;
  }
  if (node["ciphersuites"]) {
    if (auto v = r.string(node["ciphersuites"], "ciphersuites")) t.ciphersuites = *v;
  }
  if (node["session_tickets"]) {
    if (auto b = r.boolean(node["session_tickets"], "session_tickets")) t.session_tickets = *b;
  }
  if (node["tickets_per_handshake"]) {
    if (auto v = r.uint(node["tickets_per_handshake"], "tickets_per_handshake", 1, 10))
      t.tickets_per_handshake = static_cast<uint32_t>(*v);
  }
  if (node["ticket_keys_file"]) {
    if (auto p = r.path(node["ticket_keys_file"], "ticket_keys_file")) t.ticket_keys_file = *p;
  }
  if (node["ticket_key_rotation"])
    r.duration(node["ticket_key_rotation"], "ticket_key_rotation", &t.ticket_key_rotation);
  if (node["session_cache"]) {
    if (auto v = r.uint(node["session_cache"], "session_cache", 0, 10000000))
      t.session_cache_size = static_cast<uint32_t>(*v);
  }
  if (node["session_timeout"])
    r.duration(node["session_timeout"], "session_timeout", &t.session_timeout);
  if (node["client_ca"]) {
    if (auto p = r.path(node["client_ca"], "client_ca")) {
      if (auto why = tls::check_ca_file(*p); !why.empty()) {
        r.error(node["client_ca"], why);
      } else {
        t.client_ca = *p;
      }
    }
  }
  if (node["client_auth"]) {
    if (!node["client_ca"]) r.error(node["client_auth"], "client_auth needs client_ca");
    if (auto v = r.string(node["client_auth"], "client_auth")) {
      if (*v == "require") {
        t.client_cert_required = true;
      } else if (*v == "optional") {
        t.client_cert_required = false;
      } else {
        r.error(node["client_auth"], "client_auth must be require or optional");
      }
    }
  }
  if (node["client_cert_header"]) {
    if (auto v = r.string(node["client_cert_header"], "client_cert_header")) {
      if (!is_token(*v)) {
        r.error(node["client_cert_header"], "client_cert_header must be a header name");
      } else {
        t.client_cert_header = lower(*v);
      }
    }
  }
  return t;
}

Listener read_listener(Reader& r, const YAML::Node& node, size_t index) {
  Listener l;
  l.mark = r.mark(node);
  if (!r.expect_map(node, "listener",
                    {"name", "protocol", "listen", "routes", "limits", "timeouts", "forwarded",
                     "tls", "cluster", "session", "proxy_protocol", "redirect_https", "codec"})) {
    return l;
  }
  if (node["name"]) {
    if (auto s = r.string(node["name"], "name")) l.name = *s;
  } else {
    l.name = "listener" + std::to_string(index);
  }
  if (node["protocol"]) {
    if (auto s = r.string(node["protocol"], "protocol")) {
      static const std::set<std::string> kKnown = {"http", "https", "tcp", "tls_passthrough",
                                                   "udp"};
      if (!kKnown.count(*s)) {
        r.error(node["protocol"],
                "protocol '" + *s + "' is not one of http, https, tcp, tls_passthrough, udp");
      }
      l.protocol = *s;
    }
  }
  if (node["tls"]) {
    if (l.protocol != "https") {
      r.error(node["tls"], "tls applies to https listeners (tls_passthrough does not terminate)");
    } else {
      l.tls = read_listener_tls(r, node["tls"]);
    }
  } else if (l.protocol == "https") {
    r.error(node, "https listener '" + l.name + "' needs 'tls' with certificates");
  }
  if (auto c = node["codec"]) {
    if (l.protocol != "http" && l.protocol != "https") {
      r.error(c, "codec applies to http and https listeners");
    } else if (auto s = r.string(c, "codec")) {
      if (*s == "auto") {
        l.codec = Listener::Codec::kAuto;
      } else if (*s == "http1") {
        l.codec = Listener::Codec::kHttp1;
      } else if (*s == "http2") {
        l.codec = Listener::Codec::kHttp2;
      } else {
        r.error(c, "codec '" + *s + "' is not one of auto, http1, http2");
      }
    }
  }
  if (l.tls && l.codec != Listener::Codec::kAuto) {
    // The codec decides what ALPN offers; a list given by hand must agree with it.
    const std::string only = l.codec == Listener::Codec::kHttp2 ? "h2" : "http/1.1";
    if (!node["tls"]["alpn"]) {
      l.tls->alpn = {only};
    } else if (l.tls->alpn != std::vector<std::string>{only}) {
      r.error(node["tls"]["alpn"], "with codec " + node["codec"].Scalar() + ", alpn must be [" +
                                       only + "] (or left out)");
    }
  }
  if (auto rh = node["redirect_https"]) {
    if (l.protocol != "http") {
      r.error(rh, "redirect_https applies to http listeners");
    } else if (rh.IsScalar() && (rh.Scalar() == "true" || rh.Scalar() == "false")) {
      l.redirect_https = rh.Scalar() == "true";
    } else if (auto port = r.uint(rh, "redirect_https (true, false or a port)", 1, 65535)) {
      l.redirect_https = true;
      l.redirect_https_port = static_cast<uint16_t>(*port);
    }
  }
  // tcp and udp listeners send everything to one cluster; http and tls_passthrough route.
  const bool is_tcp = l.protocol == "tcp" || l.protocol == "udp";
  if (l.protocol == "udp") l.timeouts.idle = std::chrono::seconds(30);  // a UDP session's default
  if (auto pp = node["proxy_protocol"]) {
    if (l.protocol != "tcp" && l.protocol != "tls_passthrough") {
      r.error(pp, "accepting the PROXY protocol is supported on tcp and tls_passthrough listeners");
    } else if (r.expect_map(pp, "proxy_protocol", {"trusted_sources"})) {
      if (!pp["trusted_sources"]) r.error(pp, "proxy_protocol needs trusted_sources (CIDRs)");
      for (auto& [s, n] : r.string_list(pp["trusted_sources"], "trusted_sources")) {
        if (auto c = core::Cidr::parse(s)) {
          l.proxy_protocol_trusted.push_back(*c);
        } else {
          r.error(n, "trusted source '" + s + "' is not a CIDR");
        }
      }
    }
  }
  if (node["session"]) {
    if (l.protocol != "udp") {
      r.error(node["session"], "session only applies to udp listeners");
    } else if (auto s = r.string(node["session"], "session")) {
      if (*s == "none") {
        l.udp_session_none = true;
      } else if (*s != "client") {
        r.error(node["session"], "session must be client (one session per client address) or none");
      }
    }
  }
  if (node["cluster"]) {
    if (!is_tcp) {
      r.error(node["cluster"], "a " + l.protocol + " listener routes with 'routes', not 'cluster'");
    } else if (auto s = r.string(node["cluster"], "cluster")) {
      l.cluster = *s;
    }
  } else if (is_tcp) {
    r.error(node, "tcp listener '" + l.name + "' needs 'cluster'");
  }
  if (is_tcp && node["routes"])
    r.error(node["routes"], "a tcp listener takes 'cluster', not 'routes'");
  if (is_tcp && node["forwarded"])
    r.error(node["forwarded"], "forwarded only applies to http listeners");
  if (!node["listen"]) {
    r.error(node, "listener '" + l.name + "' needs 'listen: IP:PORT'");
  } else if (auto a = r.address(node["listen"], "listen")) {
    l.listen = *a;
  }
  if (auto lim = node["limits"]) {
    if (r.expect_map(lim, "limits",
                     {"max_request_line", "max_header_bytes", "max_headers", "max_body_size",
                      "max_connections_per_ip", "connection_rate_per_ip", "max_connections"})) {
      if (lim["max_connections"]) {
        if (auto v = r.uint(lim["max_connections"], "max_connections", 0, 10000000)) {
          l.limits.max_connections = *v;
        }
      }
      if (lim["max_connections_per_ip"]) {
        if (auto v = r.uint(lim["max_connections_per_ip"], "max_connections_per_ip", 0, 1000000)) {
          l.limits.max_connections_per_ip = *v;
        }
      }
      if (lim["connection_rate_per_ip"]) {
        if (auto v = r.uint(lim["connection_rate_per_ip"], "connection_rate_per_ip", 0, 1000000)) {
          l.limits.connection_rate_per_ip = *v;
        }
      }
      if (lim["max_request_line"])
        r.size(lim["max_request_line"], "max_request_line", &l.limits.max_request_line);
      if (lim["max_header_bytes"])
        r.size(lim["max_header_bytes"], "max_header_bytes", &l.limits.max_header_bytes);
      if (lim["max_headers"]) {
        if (auto v = r.uint(lim["max_headers"], "max_headers", 1, 10000)) l.limits.max_headers = *v;
      }
      if (lim["max_body_size"])
        r.size(lim["max_body_size"], "max_body_size", &l.limits.max_body_size);
      if (l.limits.max_request_line < 64 || l.limits.max_header_bytes < 256) {
        r.error(lim, "max_request_line must be at least 64 and max_header_bytes at least 256");
      }
      if (l.limits.max_header_bytes > 1024 * 1024) {
        r.error(lim, "max_header_bytes must be at most 1m");
      }
    }
  }
  if (auto t = node["timeouts"]) {
    if (r.expect_map(t, "timeouts",
                     {"request_header", "request_body_idle", "keepalive_idle", "request", "idle",
                      "max_duration", "client_hello", "tunnel_idle"})) {
      if (t["tunnel_idle"]) r.duration(t["tunnel_idle"], "tunnel_idle", &l.timeouts.tunnel_idle);
      if (t["client_hello"])
        r.duration(t["client_hello"], "client_hello", &l.timeouts.client_hello);
      if (t["idle"]) r.duration(t["idle"], "idle", &l.timeouts.idle);
      if (t["max_duration"])
        r.duration(t["max_duration"], "max_duration", &l.timeouts.max_duration);
      if (t["request"]) r.duration(t["request"], "request", &l.timeouts.request);
      if (t["request_header"])
        r.duration(t["request_header"], "request_header", &l.timeouts.request_header);
      if (t["request_body_idle"])
        r.duration(t["request_body_idle"], "request_body_idle", &l.timeouts.request_body_idle);
      if (t["keepalive_idle"])
        r.duration(t["keepalive_idle"], "keepalive_idle", &l.timeouts.keepalive_idle);
    }
  }
  if (node["forwarded"]) {
    if (auto b = r.boolean(node["forwarded"], "forwarded")) l.add_forwarded = *b;
  }
  if (is_tcp || (l.redirect_https && !node["routes"])) {
    // no routes: one cluster, or every request is redirected
  } else if (!node["routes"]) {
    r.error(node, "listener '" + l.name + "' needs 'routes'");
  } else if (!node["routes"].IsSequence() || node["routes"].size() == 0) {
    r.error(node["routes"], "routes must be a non-empty list");
  } else {
    std::set<std::string> names;
    for (const auto& rn : node["routes"]) {
      Route route;
      route.mark = r.mark(rn);
      if (!r.expect_map(rn, "route", {"name", "match", "cluster"})) continue;
      if (rn["name"]) {
        if (auto s = r.string(rn["name"], "name")) route.name = *s;
        if (!names.insert(route.name).second) {
          r.error(rn["name"], "duplicate route name '" + route.name + "'");
        }
      } else {
        route.name = l.name + "/" + std::to_string(l.routes.size());
      }
      if (rn["match"]) route.match = read_match(r, rn["match"], l.protocol == "tls_passthrough");
      if (!rn["cluster"]) {
        r.error(rn, "route needs 'cluster'");
      } else if (auto s = r.string(rn["cluster"], "cluster")) {
        route.cluster = *s;
      }
      l.routes.push_back(std::move(route));
    }
  }
  return l;
}

// "200", 204, "200-399"
std::optional<StatusRange> read_status_range(Reader& r, const YAML::Node& node) {
  auto text = r.string(node, "status");
  if (!text) return std::nullopt;
  int low = 0, high = 0;
  auto dash = text->find('-');
  auto parse = [](std::string_view s, int* out) {
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
    return ec == std::errc() && end == s.data() + s.size() && !s.empty();
  };
  bool ok = dash == std::string::npos ? parse(*text, &low) && (high = low, true)
                                      : parse(std::string_view(*text).substr(0, dash), &low) &&
                                            parse(std::string_view(*text).substr(dash + 1), &high);
  if (!ok || low < 100 || high > 599 || low > high) {
    r.error(node, "bad status '" + *text + "' (a code like 200 or a range like 200-399)");
    return std::nullopt;
  }
  return StatusRange{low, high};
}

HealthCheck read_health_check(Reader& r, const YAML::Node& hc) {
  HealthCheck check;
  if (!r.expect_map(hc, "health_check",
                    {"type", "method", "path", "host", "expect_status", "expect_body", "send",
                     "expect", "interval", "timeout", "healthy", "unhealthy", "service"})) {
    return check;
  }
  if (hc["type"]) {
    if (auto s = r.string(hc["type"], "type")) {
      if (*s != "http" && *s != "tcp" && *s != "grpc")
        r.error(hc["type"], "health_check type must be http, tcp or grpc");
      check.type = *s;
      check.type_given = true;
    }
  }
  const bool http = check.type == "http";
  for (const char* key : {"method", "path", "host", "expect_status", "expect_body"}) {
    if (!http && hc[key]) r.error(hc[key], std::string(key) + " only applies to type: http");
  }
  for (const char* key : {"send", "expect"}) {
    if (check.type != "tcp" && hc[key])
      r.error(hc[key], std::string(key) + " only applies to type: tcp");
  }
  if (hc["service"]) {
    if (check.type != "grpc") {
      r.error(hc["service"], "service only applies to type: grpc");
    } else if (auto s = r.string(hc["service"], "service")) {
      check.grpc_service = *s;
    }
  }
  if (hc["method"]) {
    if (auto s = r.string(hc["method"], "method")) {
      if (!is_token(*s)) r.error(hc["method"], "method '" + *s + "' is not a valid HTTP method");
      check.method = *s;
    }
  }
  if (hc["path"]) {
    if (auto s = r.string(hc["path"], "path")) {
      if (s->empty() || s->front() != '/' || s->find_first_of(" \r\n") != std::string::npos) {
        r.error(hc["path"], "path must start with '/' and contain no spaces");
      }
      check.path = *s;
    }
  }
  if (hc["host"]) {
    if (auto s = r.string(hc["host"], "host")) check.host = *s;
  }
  if (auto es = hc["expect_status"]) {
    check.expect_status.clear();
    if (es.IsSequence()) {
      for (const auto& item : es) {
        if (auto range = read_status_range(r, item)) check.expect_status.push_back(*range);
      }
    } else if (auto range = read_status_range(r, es)) {
      check.expect_status.push_back(*range);
    }
    if (check.expect_status.empty()) r.error(es, "expect_status needs at least one status");
  }
  if (hc["expect_body"]) {
    if (auto s = r.string(hc["expect_body"], "expect_body")) check.expect_body = *s;
  }
  if (hc["send"]) {
    if (auto s = r.string(hc["send"], "send")) check.send = *s;
  }
  if (hc["expect"]) {
    if (auto s = r.string(hc["expect"], "expect")) check.expect = *s;
  }
  if (hc["interval"]) r.duration(hc["interval"], "interval", &check.interval);
  if (hc["timeout"]) r.duration(hc["timeout"], "timeout", &check.timeout);
  if (check.interval.count() < 10)
    r.error(hc["interval"] ? hc["interval"] : hc, "interval must be at least 10ms");
  if (check.timeout.count() < 1)
    r.error(hc["timeout"] ? hc["timeout"] : hc, "timeout must be at least 1ms");
  if (hc["healthy"]) {
    if (auto v = r.uint(hc["healthy"], "healthy", 1, 100)) check.healthy = *v;
  }
  if (hc["unhealthy"]) {
    if (auto v = r.uint(hc["unhealthy"], "unhealthy", 1, 100)) check.unhealthy = *v;
  }
  return check;
}

void read_retries(Reader& r, const YAML::Node& node, RetryPolicy* p) {
  if (!r.expect_map(node, "retries", {"attempts", "on", "per_try_timeout", "budget_percent"}))
    return;
  if (node["attempts"]) {
    if (auto v = r.uint(node["attempts"], "attempts", 0, 10)) p->attempts = *v;
  }
  if (auto on = node["on"]) {
    p->on_connect_failure = false;
    p->on_reset = false;
    p->on_status.clear();
    for (auto& [item, n] : r.string_list(on, "on")) {
      if (item == "connect_failure") {
        p->on_connect_failure = true;
      } else if (item == "reset") {
        p->on_reset = true;
      } else if (item == "502" || item == "503" || item == "504") {
        p->on_status.push_back(std::stoi(item));
      } else {
        r.error(n, "retry condition '" + item +
                       "' is not one of connect_failure, reset, 502, 503, 504");
      }
    }
  }
  if (node["per_try_timeout"]) {
    Millis t{};
    r.duration(node["per_try_timeout"], "per_try_timeout", &t);
    p->per_try_timeout = t;
  }
  if (node["budget_percent"]) {
    if (auto v = r.uint(node["budget_percent"], "budget_percent", 0, 100)) p->budget_percent = *v;
  }
}

Cluster read_cluster(Reader& r, const YAML::Node& node) {
  Cluster c;
  c.mark = r.mark(node);
  if (!r.expect_map(node, "cluster",
                    {"name", "balance", "hash_on", "endpoints", "health_check", "timeouts",
                     "max_idle_per_endpoint", "panic_threshold", "retries", "circuit_breaker",
                     "outlier_detection", "slow_start", "proxy_protocol", "protocol", "tls"})) {
    return c;
  }
  if (!node["name"]) {
    r.error(node, "cluster needs 'name'");
  } else if (auto s = r.string(node["name"], "name")) {
    c.name = *s;
  }
  if (node["balance"]) {
    if (auto s = r.string(node["balance"], "balance")) {
      static const std::set<std::string> kKnown = {
          "round_robin", "least_conn", "p2c", "random", "ring_hash", "maglev", "source_ip"};
      if (!kKnown.count(*s)) {
        r.error(node["balance"], "balance '" + *s +
                                     "' is not one of round_robin, least_conn, p2c, random, "
                                     "ring_hash, maglev, source_ip");
      }
      c.balance = *s;
    }
  }
  if (auto h = node["hash_on"]) {
    if (r.expect_map(h, "hash_on", {"header", "cookie", "source_ip", "path"})) {
      if (h.size() != 1) {
        r.error(h, "hash_on takes exactly one of header, cookie, source_ip, path");
      } else if (h["header"]) {
        c.hash_on.kind = HashOn::Kind::kHeader;
        if (auto s = r.string(h["header"], "header")) c.hash_on.name = lower(*s);
      } else if (h["cookie"]) {
        c.hash_on.kind = HashOn::Kind::kCookie;
        if (auto s = r.string(h["cookie"], "cookie")) c.hash_on.name = *s;
      } else if (h["source_ip"]) {
        if (auto b = r.boolean(h["source_ip"], "source_ip"); b && *b)
          c.hash_on.kind = HashOn::Kind::kSourceIp;
      } else if (h["path"]) {
        if (auto b = r.boolean(h["path"], "path"); b && *b) c.hash_on.kind = HashOn::Kind::kPath;
      }
    }
    if (c.balance != "ring_hash" && c.balance != "maglev") {
      r.error(h, "hash_on only applies to balance: ring_hash or maglev");
    }
  }
  if (auto hc = node["health_check"]) c.health_check = read_health_check(r, hc);
  if (node["panic_threshold"]) {
    if (auto v = r.uint(node["panic_threshold"], "panic_threshold", 0, 100)) c.panic_threshold = *v;
  }
  if (auto rt = node["retries"]) read_retries(r, rt, &c.retries);
  if (auto t = node["timeouts"]) {
    if (r.expect_map(t, "timeouts", {"connect", "response", "pool_idle"})) {
      if (t["connect"]) r.duration(t["connect"], "connect", &c.timeouts.connect);
      if (t["response"]) r.duration(t["response"], "response", &c.timeouts.response);
      if (t["pool_idle"]) r.duration(t["pool_idle"], "pool_idle", &c.timeouts.pool_idle);
    }
  }
  if (auto t = node["tls"]) {
    UpstreamTls tls;
    tls.mark = r.mark(t);
    if (r.expect_map(t, "tls", {"sni", "verify", "client_cert"})) {
      if (t["sni"]) {
        if (auto v = r.string(t["sni"], "sni")) tls.sni = *v;
      }
      if (!t["verify"]) {
        r.error(t, "tls needs 'verify: CA-FILE' (or 'verify: none' to accept any certificate)");
      } else if (t["verify"].IsScalar() && t["verify"].Scalar() == "none") {
        tls.verify = false;
      } else if (auto ca = r.path(t["verify"], "verify")) {
        if (auto why = tls::check_ca_file(*ca); !why.empty()) {
          r.error(t["verify"], why);
        } else {
          tls.ca = *ca;
        }
      }
      if (auto cc = t["client_cert"]) {
        if (r.expect_map(cc, "client_cert", {"cert", "key"})) {
          auto cert = cc["cert"] ? r.path(cc["cert"], "cert") : std::nullopt;
          auto key = cc["key"] ? r.path(cc["key"], "key") : std::nullopt;
          if (!cert || !key) {
            r.error(cc, "client_cert needs 'cert' and 'key' (PEM files)");
          } else if (auto why = tls::check_key_pair(*cert, *key); !why.empty()) {
            r.error(cc, why);
          } else {
            tls.cert = *cert;
            tls.key = *key;
          }
        }
      }
    }
    c.tls = std::move(tls);
  }
  if (auto proto = node["protocol"]) {
    if (auto s = r.string(proto, "protocol")) {
      if (*s == "h2c" || *s == "h2") {
        c.upstream_h2 = true;
        if (*s == "h2c" && node["tls"]) {
          r.error(proto, "protocol h2c is cleartext: with tls, say h2");
        } else if (*s == "h2" && !node["tls"]) {
          r.error(proto, "protocol h2 runs over TLS: add tls (or say h2c for cleartext)");
        }
      } else if (*s != "http1") {
        r.error(proto, "protocol must be http1, h2c or h2");
      }
    }
  }
  if (auto pp = node["proxy_protocol"]) {
    if (auto s = r.string(pp, "proxy_protocol")) {
      if (*s == "v1") {
        c.proxy_protocol = 1;
      } else if (*s == "v2") {
        c.proxy_protocol = 2;
      } else if (*s != "none") {
        r.error(pp, "proxy_protocol must be v1, v2 or none");
      }
    }
  }
  if (auto ss = node["slow_start"]) {
    r.duration(ss, "slow_start", &c.slow_start);
    if (c.slow_start.count() > 0 && balance::uses_hash(c.balance)) {
      r.error(ss,
              "slow_start applies to round_robin, least_conn, p2c and random (a consistent "
              "hash has no weight to ramp)");
    }
  }
  if (auto od = node["outlier_detection"]) {
    OutlierDetection o;
    if (r.expect_map(od, "outlier_detection",
                     {"consecutive_failures", "base_ejection_time", "max_ejection_time",
                      "max_ejection_percent"})) {
      if (od["consecutive_failures"]) {
        if (auto v = r.uint(od["consecutive_failures"], "consecutive_failures", 1, 1000)) {
          o.consecutive_failures = *v;
        }
      }
      if (od["base_ejection_time"])
        r.duration(od["base_ejection_time"], "base_ejection_time", &o.base_ejection_time);
      if (od["max_ejection_time"])
        r.duration(od["max_ejection_time"], "max_ejection_time", &o.max_ejection_time);
      if (od["max_ejection_percent"]) {
        if (auto v = r.uint(od["max_ejection_percent"], "max_ejection_percent", 0, 100)) {
          o.max_ejection_percent = *v;
        }
      }
      if (o.max_ejection_time < o.base_ejection_time) {
        r.error(od, "max_ejection_time must be at least base_ejection_time");
      }
    }
    c.outlier_detection = o;
  }
  if (auto cb = node["circuit_breaker"]) {
    if (r.expect_map(cb, "circuit_breaker", {"max_requests", "max_connections", "max_pending"})) {
      if (cb["max_requests"]) {
        if (auto v = r.uint(cb["max_requests"], "max_requests", 0, 1000000)) c.max_requests = *v;
      }
      if (cb["max_connections"]) {
        if (auto v = r.uint(cb["max_connections"], "max_connections", 0, 1000000))
          c.max_connections = *v;
      }
      if (cb["max_pending"]) {
        if (auto v = r.uint(cb["max_pending"], "max_pending", 0, 1000000)) c.max_pending = *v;
      }
    }
  }
  if (node["max_idle_per_endpoint"]) {
    if (auto v = r.uint(node["max_idle_per_endpoint"], "max_idle_per_endpoint", 0, 100000)) {
      c.max_idle_per_endpoint = *v;
    }
  }
  if (!node["endpoints"]) {
    r.error(node, "cluster '" + c.name + "' needs 'endpoints'");
  } else if (!node["endpoints"].IsSequence() || node["endpoints"].size() == 0) {
    r.error(node["endpoints"], "endpoints must be a non-empty list");
  } else {
    for (const auto& en : node["endpoints"]) {
      Endpoint e;
      if (en.IsScalar()) {
        if (auto a = r.address(en, "endpoint")) e.address = *a;
      } else if (r.expect_map(en, "endpoint", {"address", "weight"})) {
        if (!en["address"]) {
          r.error(en, "endpoint needs 'address'");
          continue;
        }
        if (auto a = r.address(en["address"], "address")) e.address = *a;
        if (en["weight"]) {
          if (auto v = r.uint(en["weight"], "weight", 1, 10000)) e.weight = *v;
        }
      }
      for (const auto& other : c.endpoints) {
        if (other.address == e.address) {
          r.error(en,
                  "duplicate endpoint " + e.address.to_string() + " in cluster '" + c.name + "'");
        }
      }
      c.endpoints.push_back(e);
    }
  }
  if (c.tls) {
    if (c.health_check && c.health_check->type != "tcp") {
      if (c.health_check->type_given) {
        r.error(node["health_check"],
                "an http or grpc health check cannot reach a tls cluster yet: use type: tcp");
      } else {
        c.health_check->type = "tcp";  // a TLS port answers nothing to plain HTTP
      }
    }
  }
  return c;
}

std::optional<core::IpAddress> read_ip(Reader& r, const YAML::Node& node, std::string_view what) {
  auto s = r.string(node, what);
  if (!s) return std::nullopt;
  auto ip = core::IpAddress::parse(*s);
  if (!ip) r.error(node, std::string(what) + ": bad IP address '" + *s + "'");
  return ip;
}

// `10.0.0.2` (one address) or `10.0.0.0/24` (the outer source varies within it per flow).
std::optional<core::Cidr> read_source(Reader& r, const YAML::Node& node, std::string_view what,
                                      bool v4) {
  auto s = r.string(node, what);
  if (!s) return std::nullopt;
  auto cidr =
      s->find('/') == std::string::npos ? std::optional<core::Cidr>{} : core::Cidr::parse(*s);
  if (s->find('/') == std::string::npos) {
    if (auto ip = core::IpAddress::parse(*s)) cidr = core::Cidr{*ip, 128};
  }
  if (!cidr || cidr->prefix.is_v4 != v4) {
    r.error(node, std::string(what) + ": expected an " + (v4 ? "IPv4" : "IPv6") +
                      " address or prefix, got '" + *s + "'");
    return std::nullopt;
  }
  if (cidr->bits < 96 + 8 && v4) r.error(node, std::string(what) + ": prefix wider than /8");
  return cidr;
}

PacketVip read_packet_vip(Reader& r, const YAML::Node& node) {
  PacketVip vip;
  vip.mark = r.mark(node);
  if (!r.expect_map(node, "packet vip",
                    {"address", "port", "protocol", "mode", "forward", "hash", "reals",
                     "health_check", "health_port"})) {
    return vip;
  }
  if (!node["address"]) {
    r.error(node, "a packet vip needs an address");
  } else if (auto ip = read_ip(r, node["address"], "vip address")) {
    vip.address = *ip;
  }
  if (node["mode"]) {
    if (auto s = r.string(node["mode"], "mode")) {
      if (*s != "l3" && *s != "l4") r.error(node["mode"], "mode must be l3 or l4");
      vip.mode = *s;
    }
  }
  const bool l4 = vip.mode == "l4";
  if (node["protocol"]) {
    if (!l4) {
      r.error(node["protocol"], "an l3 vip balances every IP protocol: protocol only for l4");
    } else if (auto s = r.string(node["protocol"], "protocol")) {
      if (*s != "tcp" && *s != "udp") r.error(node["protocol"], "protocol must be tcp or udp");
      vip.protocol = *s;
    }
  } else if (l4) {
    vip.protocol = "tcp";
  }
  if (node["port"]) {
    if (!l4) {
      r.error(node["port"], "an l3 vip has no port (mode: l4 balances by port)");
    } else if (auto v = r.uint(node["port"], "port", 0, 65535)) {
      vip.port = static_cast<uint16_t>(*v);
    }
  }
  if (node["forward"]) {
    if (auto s = r.string(node["forward"], "forward")) {
      if (*s != "ipip" && *s != "nat") r.error(node["forward"], "forward must be ipip or nat");
      vip.forward = *s;
    }
  }
  if (node["hash"]) {
    if (auto s = r.string(node["hash"], "hash")) {
      if (*s != "flow" && *s != "source_ip")
        r.error(node["hash"], "hash must be flow or source_ip");
      vip.hash_source_only = *s == "source_ip";
    }
  }
  constexpr size_t kMaxReals = 655;  // keeps the Maglev table at 65537 slots (100 per real)
  if (!node["reals"] || !node["reals"].IsSequence() || node["reals"].size() == 0) {
    r.error(node["reals"] ? node["reals"] : node, "a packet vip needs a non-empty list of reals");
  } else if (node["reals"].size() > kMaxReals) {
    r.error(node["reals"], "at most " + std::to_string(kMaxReals) + " reals per vip");
  } else {
    for (const auto& rn : node["reals"]) {
      PacketReal real;
      // Not assigned later: assigning a yaml-cpp node writes through to the node it refers to.
      const YAML::Node addr = rn.IsMap() ? rn["address"] : rn;
      if (rn.IsMap()) {
        if (!r.expect_map(rn, "real", {"address", "weight", "port"})) continue;
        if (!addr) {
          r.error(rn, "a real needs an address");
          continue;
        }
        if (rn["weight"]) {
          if (auto w = r.uint(rn["weight"], "weight", 1, 10000)) real.weight = *w;
        }
        if (rn["port"]) {
          if (vip.forward != "nat" || !l4) {
            r.error(rn["port"], "a real's port only applies to forward: nat with mode: l4");
          } else if (auto v = r.uint(rn["port"], "port", 1, 65535)) {
            real.port = static_cast<uint16_t>(*v);
          }
        }
      }
      auto ip = read_ip(r, addr, "real address");
      if (!ip) continue;
      real.address = *ip;
      if (vip.forward == "nat" && ip->is_v4 != vip.address.is_v4) {
        r.error(addr, "forward: nat keeps the address family: the real must be " +
                          std::string(vip.address.is_v4 ? "IPv4" : "IPv6"));
      }
      for (const auto& other : vip.reals) {
        if (other.address == real.address && other.port == real.port)
          r.error(addr, "duplicate real " + ip->to_string());
      }
      vip.reals.push_back(real);
    }
  }
  if (node["health_check"]) {
    vip.health_check = read_health_check(r, node["health_check"]);
    if (vip.health_check->type_given && vip.health_check->type != "tcp") {
      r.error(node["health_check"]["type"], "packet vips have tcp health checks only");
    }
    vip.health_check->type = "tcp";
  }
  if (node["health_port"]) {
    if (auto v = r.uint(node["health_port"], "health_port", 1, 65535))
      vip.health_port = static_cast<uint16_t>(*v);
  }
  if (vip.health_check && !vip.health_port && !vip.port) {
    bool all_have_ports = !vip.reals.empty();
    for (const auto& real : vip.reals) all_have_ports = all_have_ports && real.port != 0;
    if (!all_have_ports)
      r.error(node["health_check"], "this vip has no port to check: set health_port");
  }
  return vip;
}

PacketTier read_packet(Reader& r, const YAML::Node& node) {
  PacketTier tier;
  tier.mark = r.mark(node);
  if (!r.expect_map(node, "packet",
                    {"interface", "gateway", "gateway_mac", "source", "source_v6", "attach",
                     "conn_table_size", "vips"})) {
    return tier;
  }
  if (!node["interface"]) {
    r.error(node, "packet needs an interface");
  } else if (auto s = r.string(node["interface"], "interface")) {
    if (s->empty() || s->size() >= 16) r.error(node["interface"], "bad interface name");
    tier.interface = *s;
  }
  if (node["gateway"]) tier.gateway = read_ip(r, node["gateway"], "gateway");
  if (node["gateway_mac"]) {
    if (auto s = r.string(node["gateway_mac"], "gateway_mac")) {
      tier.gateway_mac = core::parse_mac(*s);
      if (!tier.gateway_mac)
        r.error(node["gateway_mac"], "gateway_mac: expected aa:bb:cc:dd:ee:ff, got '" + *s + "'");
    }
  }
  if (!tier.gateway && !tier.gateway_mac) {
    r.error(node, "packet needs a gateway (or gateway_mac): forwarded packets go to it");
  }
  if (tier.gateway && !tier.gateway->is_v4 && !tier.gateway_mac) {
    r.error(node["gateway"], "an IPv6 gateway needs gateway_mac (its MAC is not looked up)");
  }
  if (node["source"]) tier.source_v4 = read_source(r, node["source"], "source", true);
  if (node["source_v6"]) tier.source_v6 = read_source(r, node["source_v6"], "source_v6", false);
  if (node["attach"]) {
    if (auto s = r.string(node["attach"], "attach")) {
      if (*s != "native" && *s != "generic" && *s != "auto" && *s != "tc")
        r.error(node["attach"], "attach must be native, generic, auto or tc");
      tier.attach = *s;
    }
  }
  if (node["conn_table_size"]) {
    if (auto v = r.uint(node["conn_table_size"], "conn_table_size", 1024, 1u << 26))
      tier.conn_table_size = *v;
  }
  if (!node["vips"] || !node["vips"].IsSequence() || node["vips"].size() == 0) {
    r.error(node["vips"] ? node["vips"] : node, "packet needs a non-empty list of vips");
    return tier;
  }
  if (node["vips"].size() > 512) r.error(node["vips"], "at most 512 packet vips");
  for (const auto& vn : node["vips"]) {
    auto vip = read_packet_vip(r, vn);
    for (const auto& other : tier.vips) {
      if (other.name() == vip.name()) r.error(vn, "duplicate vip " + vip.name());
      if (other.address == vip.address && other.mode != vip.mode) {
        r.error(vn, "address " + vip.address.to_string() + " is both an l3 and an l4 vip");
      }
    }
    tier.vips.push_back(std::move(vip));
  }
  return tier;
}

void read_root(Reader& r, const YAML::Node& root, Config& cfg) {
  if (!r.expect_map(root, "the config file",
                    {"workers", "admin", "listeners", "clusters", "access_log", "shutdown_timeout",
                     "packet"})) {
    return;
  }
  if (auto w = root["workers"]) {
    if (!(w.IsScalar() && w.Scalar() == "auto")) {
      if (auto v = r.uint(w, "workers", 1, 1024)) cfg.workers = *v;
    }
  }
  if (auto a = root["admin"]) {
    if (r.expect_map(a, "admin", {"listen"}) && a["listen"]) {
      cfg.admin_listen = r.address(a["listen"], "admin listen");
    }
  }
  if (auto s = root["shutdown_timeout"]) r.duration(s, "shutdown_timeout", &cfg.shutdown_timeout);
  if (auto al = root["access_log"]) {
    if (al.IsScalar()) {
      if (auto b = r.boolean(al, "access_log")) cfg.access_log.enabled = *b;
    } else if (r.expect_map(al, "access_log", {"enabled", "format", "path"})) {
      if (al["enabled"]) {
        if (auto b = r.boolean(al["enabled"], "enabled")) cfg.access_log.enabled = *b;
      }
      if (al["format"]) {
        if (auto s = r.string(al["format"], "format")) {
          if (*s != "text" && *s != "json") r.error(al["format"], "format must be text or json");
          cfg.access_log.format = *s;
        }
      }
      if (al["path"]) {
        if (auto s = r.string(al["path"], "path")) cfg.access_log.path = *s;
      }
    }
  }
  if (auto p = root["packet"]) cfg.packet = read_packet(r, p);

  // A packet-tier node may run no proxy at all.
  const bool packet_only = cfg.packet && !root["listeners"] && !root["clusters"];
  if (packet_only) {
  } else if (!root["listeners"] || !root["listeners"].IsSequence() ||
             root["listeners"].size() == 0) {
    r.error(root["listeners"] ? root["listeners"] : root, "'listeners' must be a non-empty list");
  } else {
    std::set<std::string> names;
    for (const auto& ln : root["listeners"]) {
      auto l = read_listener(r, ln, cfg.listeners.size());
      if (!names.insert(l.name).second) {
        r.error(ln["name"] ? ln["name"] : ln, "duplicate listener name '" + l.name + "'");
      }
      cfg.listeners.push_back(std::move(l));
    }
  }
  if (packet_only) {
  } else if (!root["clusters"] || !root["clusters"].IsSequence() || root["clusters"].size() == 0) {
    r.error(root["clusters"] ? root["clusters"] : root, "'clusters' must be a non-empty list");
  } else {
    std::set<std::string> names;
    for (const auto& cn : root["clusters"]) {
      auto c = read_cluster(r, cn);
      if (!c.name.empty() && !names.insert(c.name).second) {
        r.error(cn["name"], "duplicate cluster name '" + c.name + "'");
      }
      cfg.clusters.push_back(std::move(c));
    }
  }
  // A cluster behind a stream listener speaks whatever protocol it speaks: its health check is a
  // TCP connect unless the config says otherwise.
  for (const auto& l : cfg.listeners) {
    if (l.protocol == "http" || l.protocol == "https") continue;
    std::vector<std::string> names;
    if (!l.cluster.empty()) names.push_back(l.cluster);
    for (const auto& route : l.routes) names.push_back(route.cluster);
    for (auto& c : cfg.clusters) {
      if (c.health_check && !c.health_check->type_given &&
          std::find(names.begin(), names.end(), c.name) != names.end()) {
        c.health_check->type = "tcp";
      }
    }
  }
  // Cross references, reported at the route that refers.
  const auto& listeners_node = root["listeners"];
  for (size_t i = 0; i < cfg.listeners.size(); ++i) {
    const auto& l = cfg.listeners[i];
    for (size_t j = 0; j < l.routes.size(); ++j) {
      const auto& route = l.routes[j];
      if (!route.cluster.empty() && !cfg.find_cluster(route.cluster)) {
        auto rn = listeners_node[i]["routes"][j]["cluster"];
        r.error(rn, "route '" + route.name + "' refers to unknown cluster '" + route.cluster + "'");
      }
    }
    if (l.protocol == "udp") {
      if (const auto* c = cfg.find_cluster(l.cluster); c && c->proxy_protocol == 1) {
        r.error(listeners_node[i]["cluster"],
                "cluster '" + c->name + "' sends PROXY v1, which has no UDP form: use v2");
      }
    }
    if (!l.cluster.empty() && !cfg.find_cluster(l.cluster)) {
      r.error(listeners_node[i]["cluster"],
              "listener '" + l.name + "' refers to unknown cluster '" + l.cluster + "'");
    }
    for (size_t k = 0; k < i; ++k) {
      if (cfg.listeners[k].listen == l.listen) {
        r.error(listeners_node[i]["listen"], "listen address " + l.listen.to_string() +
                                                 " is already used by listener '" +
                                                 cfg.listeners[k].name + "'");
      }
    }
    if (cfg.admin_listen && *cfg.admin_listen == l.listen) {
      r.error(listeners_node[i]["listen"],
              "listen address " + l.listen.to_string() + " is already used by the admin listener");
    }
  }
}

}  // namespace

LoadResult load_config_text(const std::string& text, const std::string& file_name) {
  Reader r(file_name);
  auto cfg = std::make_shared<Config>();
  cfg->file = file_name;
  cfg->source_text = text;
  try {
    YAML::Node root = YAML::Load(text);
    if (!root.IsDefined() || root.IsNull()) {
      r.errors().push_back({file_name, 1, 1, "the config file is empty"});
    } else {
      read_root(r, root, *cfg);
    }
  } catch (const YAML::Exception& e) {
    r.errors().push_back({file_name, e.mark.line + 1, e.mark.column + 1, e.msg});
  }
  LoadResult result;
  result.errors = std::move(r.errors());
  std::stable_sort(result.errors.begin(), result.errors.end(), [](const auto& a, const auto& b) {
    return std::tie(a.line, a.col) < std::tie(b.line, b.col);
  });
  if (result.errors.empty()) result.config = std::move(cfg);
  return result;
}

LoadResult load_config_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    LoadResult result;
    result.errors.push_back(
        {path, 1, 1, "cannot open the config file: " + std::string(std::strerror(errno))});
    return result;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return load_config_text(ss.str(), path);
}

}  // namespace sluice::config
