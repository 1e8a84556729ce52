#include "config/cluster_reader.h"

#include "balance/balancer.h"
#include "tls/certificate.h"

namespace sluice::config {
namespace {

std::optional<StatusRange> read_status_range(YamlReader& r, const YAML::Node& node) {
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

void read_retries(YamlReader& r, const YAML::Node& node, RetryPolicy* p) {
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

}  // namespace

HealthCheck read_health_check(YamlReader& r, const YAML::Node& hc) {
  HealthCheck check;
  if (!r.expect_map(hc, "health_check",
                    {"type", "method", "path", "host", "expect_status", "expect_body", "send",
                     "expect", "interval", "timeout", "healthy", "unhealthy", "service"})) {
    return check;
  }
  if (hc["type"]) {
    if (auto s = r.string(hc["type"], "type")) {
      if (auto t = core::parse_enum(kHealthCheckTypes, *s)) {
        check.type = *t;
        check.type_given = true;
      } else {
        r.error(hc["type"], "health_check type must be http, tcp or grpc");
      }
    }
  }
  const bool http = check.type == HealthCheck::Type::kHttp;
  for (const char* key : {"method", "path", "host", "expect_status", "expect_body"}) {
    if (!http && hc[key]) r.error(hc[key], std::string(key) + " only applies to type: http");
  }
  for (const char* key : {"send", "expect"}) {
    if (check.type != HealthCheck::Type::kTcp && hc[key])
      r.error(hc[key], std::string(key) + " only applies to type: tcp");
  }
  if (hc["service"]) {
    if (check.type != HealthCheck::Type::kGrpc) {
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

Cluster read_cluster(YamlReader& r, const YAML::Node& node) {
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
      if (auto k = balance::parse_kind(*s)) {
        c.balance = *k;
      } else {
        r.error(node["balance"],
                "balance '" + *s + "' is not one of " + core::enum_list(balance::kKindNames));
      }
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
    if (c.balance != balance::Kind::kRingHash && c.balance != balance::Kind::kMaglev) {
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
    if (c.health_check && c.health_check->type != HealthCheck::Type::kTcp) {
      if (c.health_check->type_given) {
        r.error(node["health_check"],
                "an http or grpc health check cannot reach a tls cluster yet: use type: tcp");
      } else {
        c.health_check->type = HealthCheck::Type::kTcp;  // a TLS port answers nothing to plain HTTP
      }
    }
  }
  return c;
}

}  // namespace sluice::config
