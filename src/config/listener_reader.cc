#include "config/listener_reader.h"

#include "tls/certificate.h"

namespace sluice::config {
namespace {

Match read_match(YamlReader& r, const YAML::Node& node, bool tls) {
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
                    {"host", "path_prefix", "path_segment_prefix", "path_exact", "path_regex",
                     "method", "headers", "query", "cookie", "source", "client_cert_subject"})) {
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
  path("path_segment_prefix", &m.path_segment_prefix);
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

ListenerTls read_listener_tls(YamlReader& r, const YAML::Node& node) {
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

}  // namespace

Listener read_listener(YamlReader& r, const YAML::Node& node, size_t index) {
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
      if (auto p = core::parse_enum(kListenerProtocols, *s)) {
        l.protocol = *p;
      } else {
        r.error(node["protocol"],
                "protocol '" + *s + "' is not one of " + core::enum_list(kListenerProtocols));
      }
    }
  }
  if (node["tls"]) {
    if (l.protocol != Listener::Protocol::kHttps) {
      r.error(node["tls"], "tls applies to https listeners (tls_passthrough does not terminate)");
    } else {
      l.tls = read_listener_tls(r, node["tls"]);
    }
  } else if (l.protocol == Listener::Protocol::kHttps) {
    r.error(node, "https listener '" + l.name + "' needs 'tls' with certificates");
  }
  if (auto c = node["codec"]) {
    if (!l.is_http()) {
      r.error(c, "codec applies to http and https listeners");
    } else if (auto s = r.string(c, "codec")) {
      if (auto codec = core::parse_enum(kListenerCodecs, *s)) {
        l.codec = *codec;
      } else {
        r.error(c, "codec '" + *s + "' is not one of " + core::enum_list(kListenerCodecs));
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
    if (l.protocol != Listener::Protocol::kHttp) {
      r.error(rh, "redirect_https applies to http listeners");
    } else if (rh.IsScalar() && (rh.Scalar() == "true" || rh.Scalar() == "false")) {
      l.redirect_https = rh.Scalar() == "true";
    } else if (auto port = r.uint(rh, "redirect_https (true, false or a port)", 1, 65535)) {
      l.redirect_https = true;
      l.redirect_https_port = static_cast<uint16_t>(*port);
    }
  }
  // tcp and udp listeners send everything to one cluster; http and tls_passthrough route.
  const bool is_tcp =
      l.protocol == Listener::Protocol::kTcp || l.protocol == Listener::Protocol::kUdp;
  if (l.protocol == Listener::Protocol::kUdp)
    l.timeouts.idle = std::chrono::seconds(30);  // a UDP session's default
  if (auto pp = node["proxy_protocol"]) {
    if (l.protocol != Listener::Protocol::kTcp &&
        l.protocol != Listener::Protocol::kTlsPassthrough) {
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
    if (l.protocol != Listener::Protocol::kUdp) {
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
      r.error(node["cluster"], "a " + std::string(name_of(l.protocol)) +
                                   " listener routes with 'routes', not 'cluster'");
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
      if (rn["match"])
        route.match = read_match(r, rn["match"], l.protocol == Listener::Protocol::kTlsPassthrough);
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

}  // namespace sluice::config
