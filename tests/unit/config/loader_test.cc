#include "config/loader.h"

#include <gtest/gtest.h>

namespace sluice::config {
namespace {

constexpr const char* kValid = R"(workers: 2
admin: { listen: 127.0.0.1:9901 }
listeners:
  - name: web
    listen: 127.0.0.1:8080
    routes:
      - name: api
        match: { host: [api.example.com, "*.api.example.com"], path_prefix: /orders, method: [GET, POST] }
        cluster: orders
      - match: { headers: { x-tenant: acme, x-debug: { present: true }, x-id: { regex: "[0-9]+" } } }
        cluster: orders
      - cluster: default
clusters:
  - name: orders
    balance: maglev
    hash_on: { header: X-User }
    timeouts: { connect: 250ms, response: 2s }
    endpoints:
      - { address: 127.0.0.1:9001, weight: 2 }
      - 127.0.0.1:9002
  - name: default
    endpoints: [127.0.0.1:9003]
)";

std::vector<std::string> errors_of(const std::string& text) {
  auto r = load_config_text(text, "t.yaml");
  std::vector<std::string> out;
  for (const auto& e : r.errors) out.push_back(e.to_string());
  return out;
}

TEST(ConfigLoader, LoadsAValidConfigWithDefaults) {
  auto r = load_config_text(kValid, "t.yaml");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].to_string();
  const auto& c = *r.config;
  EXPECT_EQ(c.workers, 2u);
  ASSERT_EQ(c.listeners.size(), 1u);
  const auto& l = c.listeners[0];
  EXPECT_EQ(l.routes.size(), 3u);
  EXPECT_EQ(l.routes[0].match.hosts,
            (std::vector<std::string>{"api.example.com", "*.api.example.com"}));
  EXPECT_EQ(l.routes[1].name, "web/1");
  EXPECT_EQ(l.routes[1].match.headers.size(), 3u);
  EXPECT_EQ(l.limits.max_header_bytes, 64u * 1024);  // default
  const auto& orders = c.clusters[0];
  EXPECT_EQ(orders.hash_on.kind, HashOn::Kind::kHeader);
  EXPECT_EQ(orders.hash_on.name, "x-user");
  EXPECT_EQ(orders.endpoints[0].weight, 2u);
  EXPECT_EQ(orders.timeouts.connect, Millis(250));
  EXPECT_EQ(c.clusters[1].balance, balance::Kind::kRoundRobin);
}

TEST(ConfigLoader, UnknownKeyIsAnErrorWithPosition) {
  auto errors = errors_of(
      "workers: 1\nlisteners:\n  - name: a\n    listen: 127.0.0.1:1\n    rotues: []\n"
      "clusters:\n  - name: c\n    endpoints: [127.0.0.1:2]\n");
  ASSERT_FALSE(errors.empty());
  EXPECT_EQ(errors[0].substr(0, 12), "t.yaml:3:5: ") << errors[0];  // the listener needs routes
  bool found = false;
  for (const auto& e : errors) found = found || e.find("t.yaml:5:5: unknown key 'rotues'") == 0;
  EXPECT_TRUE(found);
}

TEST(ConfigLoader, BadDurationAddressAndDuplicates) {
  auto errors = errors_of(R"(listeners:
  - name: a
    listen: 127.0.0.1:99999
    routes: [{ cluster: c }]
  - name: a
    listen: 127.0.0.1:8081
    routes: [{ cluster: nope }]
clusters:
  - name: c
    timeouts: { connect: 5 }
    endpoints: [127.0.0.1:2, 127.0.0.1:2]
  - name: c
    endpoints: [127.0.0.1:3]
)");
  auto has = [&](const std::string& prefix) {
    for (const auto& e : errors) {
      if (e.rfind(prefix, 0) == 0) return true;
    }
    return false;
  };
  EXPECT_TRUE(has("t.yaml:3:13: listen: bad address '127.0.0.1:99999'"));
  EXPECT_TRUE(has("t.yaml:5:11: duplicate listener name 'a'"));
  EXPECT_TRUE(has("t.yaml:7:25: route 'a/0' refers to unknown cluster 'nope'"));
  EXPECT_TRUE(has("t.yaml:10:26: connect: bad duration '5'"));
  EXPECT_TRUE(has("t.yaml:11:30: duplicate endpoint 127.0.0.1:2"));
  EXPECT_TRUE(has("t.yaml:12:11: duplicate cluster name 'c'"));
}

TEST(ConfigLoader, YamlSyntaxErrorHasPosition) {
  auto errors = errors_of("listeners: [\n  { name: a\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].rfind("t.yaml:", 0), 0u);
}

TEST(ConfigLoader, BadRegexAndCidrAndBalance) {
  auto errors = errors_of(R"(listeners:
  - listen: 127.0.0.1:1
    routes:
      - match: { path_regex: "(", source: 10.0.0.1/8 }
        cluster: c
clusters:
  - name: c
    balance: fastest
    endpoints: [127.0.0.1:2]
)");
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_NE(errors[0].find("bad regex"), std::string::npos);
  EXPECT_NE(errors[1].find("not a CIDR"), std::string::npos);
  EXPECT_NE(errors[2].find("balance 'fastest'"), std::string::npos);
}

TEST(ConfigLoader, DuplicateYamlKeyIsAnError) {
  auto errors = errors_of("workers: 1\nworkers: 2\nlisteners: []\nclusters: []\n");
  bool found = false;
  for (const auto& e : errors)
    found = found || e.find("duplicate key 'workers'") != std::string::npos;
  EXPECT_TRUE(found);
}

TEST(ConfigLoader, MissingFile) {
  auto r = load_config_file("/nonexistent/sluice.yaml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].to_string().rfind("/nonexistent/sluice.yaml:1:1: cannot open", 0), 0u);
}

}  // namespace
}  // namespace sluice::config

namespace sluice::config {
namespace {

TEST(ConfigLoader, HealthCheckRetriesAndPanic) {
  auto r = load_config_text(R"(listeners:
  - listen: 127.0.0.1:1
    routes: [{ cluster: c }]
clusters:
  - name: c
    health_check: { type: http, path: /ready, host: svc, expect_status: [200, "300-302"], expect_body: ok, interval: 2s }
    panic_threshold: 50
    retries: { attempts: 3, on: [reset, 503], per_try_timeout: 250ms, budget_percent: 30 }
    endpoints: [127.0.0.1:2]
  - name: t
    health_check: { type: tcp, send: "PING\r\n", expect: "+PONG" }
    endpoints: [127.0.0.1:3]
)",
                            "t.yaml");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].to_string();
  const auto& c = r.config->clusters[0];
  ASSERT_TRUE(c.health_check);
  EXPECT_EQ(c.health_check->path, "/ready");
  EXPECT_EQ(c.health_check->host, "svc");
  ASSERT_EQ(c.health_check->expect_status.size(), 2u);
  EXPECT_EQ(c.health_check->expect_status[1].low, 300);
  EXPECT_EQ(c.health_check->expect_status[1].high, 302);
  EXPECT_EQ(c.panic_threshold, 50u);
  EXPECT_EQ(c.retries.attempts, 3u);
  EXPECT_FALSE(c.retries.on_connect_failure);  // the list replaces the default
  EXPECT_TRUE(c.retries.on_reset);
  EXPECT_EQ(c.retries.on_status, std::vector<int>{503});
  EXPECT_EQ(*c.retries.per_try_timeout, Millis(250));
  EXPECT_EQ(r.config->clusters[1].health_check->expect, "+PONG");
  // defaults
  EXPECT_TRUE(r.config->clusters[1].retries.on_connect_failure);
  EXPECT_EQ(r.config->clusters[1].retries.attempts, 2u);
}

TEST(ConfigLoader, BadHealthCheckAndRetries) {
  auto r = load_config_text(R"(listeners:
  - listen: 127.0.0.1:1
    routes: [{ cluster: c }]
clusters:
  - name: c
    health_check: { type: udp, expect_status: "600", interval: 1ms }
    retries: { attempts: 11, on: [timeout] }
    panic_threshold: 101
    endpoints: [127.0.0.1:2]
  - name: d
    health_check: { type: tcp, path: /x }
    endpoints: [127.0.0.1:3]
)",
                            "t.yaml");
  std::string all;
  for (const auto& e : r.errors) all += e.to_string() + "\n";
  for (const char* want : {"health_check type must be http, tcp or grpc", "bad status '600'",
                           "interval must be at least 10ms", "attempts must be between 0 and 10",
                           "retry condition 'timeout'", "panic_threshold must be between 0 and 100",
                           "path only applies to type: http"}) {
    EXPECT_NE(all.find(want), std::string::npos) << want << "\n" << all;
  }
}

}  // namespace
}  // namespace sluice::config

namespace sluice::config {
namespace {

TEST(ConfigLoader, SlowStartOutlierBreakerAndClientLimits) {
  auto r = load_config_text(R"(listeners:
  - listen: 127.0.0.1:1
    limits: { max_connections_per_ip: 100, connection_rate_per_ip: 50 }
    timeouts: { request: 30s }
    routes: [{ cluster: c }]
clusters:
  - name: c
    slow_start: 10s
    outlier_detection: { consecutive_failures: 3, base_ejection_time: 5s, max_ejection_percent: 30 }
    circuit_breaker: { max_requests: 100 }
    endpoints: [127.0.0.1:2]
  - name: h
    balance: maglev
    slow_start: 10s
    outlier_detection: { base_ejection_time: 10s, max_ejection_time: 1s }
    endpoints: [127.0.0.1:3]
)",
                            "t.yaml");
  ASSERT_EQ(r.errors.size(), 2u);
  EXPECT_NE(r.errors[0].message.find("slow_start applies to round_robin"), std::string::npos);
  EXPECT_NE(r.errors[1].message.find("max_ejection_time must be at least"), std::string::npos);
}

}  // namespace
}  // namespace sluice::config

namespace sluice::config {
namespace {

TEST(ConfigLoader, StreamListenersAndTheirDefaults) {
  auto r = load_config_text(R"(listeners:
  - { name: db, protocol: tcp, listen: 127.0.0.1:1, cluster: c }
  - name: tls
    protocol: tls_passthrough
    listen: 127.0.0.1:2
    proxy_protocol: { trusted_sources: [10.0.0.0/8] }
    routes: [{ match: { sni: "*.example.com" }, cluster: c }, { cluster: c }]
  - { name: dns, protocol: udp, listen: 127.0.0.1:3, cluster: u, session: none }
clusters:
  - { name: c, health_check: { interval: 1s }, proxy_protocol: v2, endpoints: [127.0.0.1:9] }
  - { name: u, endpoints: [127.0.0.1:10] }
)",
                            "t.yaml");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].to_string();
  const auto& c = *r.config;
  EXPECT_EQ(c.clusters[0].health_check->type, HealthCheck::Type::kTcp);  // behind stream listeners
  EXPECT_EQ(c.listeners[0].protocol, Listener::Protocol::kTcp);
  EXPECT_EQ(c.listeners[1].protocol, Listener::Protocol::kTlsPassthrough);
  EXPECT_EQ(c.listeners[2].protocol, Listener::Protocol::kUdp);
  EXPECT_FALSE(c.listeners[2].is_http());
  EXPECT_EQ(c.clusters[0].proxy_protocol, 2);
  EXPECT_EQ(c.listeners[0].timeouts.idle, Millis(600000));  // tcp: 10m
  EXPECT_EQ(c.listeners[1].routes[0].match.sni, std::vector<std::string>{"*.example.com"});
  EXPECT_EQ(c.listeners[1].proxy_protocol_trusted.size(), 1u);
  EXPECT_EQ(c.listeners[2].timeouts.idle, Millis(30000));  // udp sessions: 30s
  EXPECT_TRUE(c.listeners[2].udp_session_none);
}

TEST(ConfigLoader, StreamListenerMistakes) {
  auto r = load_config_text(R"(listeners:
  - { name: a, protocol: tcp, listen: 127.0.0.1:1, routes: [{ cluster: c }] }
  - { name: b, protocol: udp, listen: 127.0.0.1:2, cluster: nope }
  - { name: d, protocol: http, listen: 127.0.0.1:3, session: none, routes: [{ cluster: c }] }
  - name: e
    protocol: tls_passthrough
    listen: 127.0.0.1:4
    routes: [{ match: { host: x }, cluster: c }]
clusters:
  - { name: c, proxy_protocol: v3, endpoints: [127.0.0.1:9] }
)",
                            "t.yaml");
  std::string all;
  for (const auto& e : r.errors) all += e.to_string() + "\n";
  for (const char* want :
       {"tcp listener 'a' needs 'cluster'", "takes 'cluster', not 'routes'",
        "unknown cluster 'nope'", "session only applies to udp", "unknown key 'host' in match",
        "proxy_protocol must be v1, v2 or none"}) {
    EXPECT_NE(all.find(want), std::string::npos) << want << "\n" << all;
  }
}

}  // namespace
}  // namespace sluice::config

namespace sluice::config {
namespace {

TEST(ConfigLoader, ListenerCodec) {
  const std::string head = "listeners:\n  - name: a\n    listen: 127.0.0.1:1\n";
  const std::string tail =
      "    routes: [{ cluster: c }]\nclusters:\n  - name: c\n"
      "    endpoints: [127.0.0.1:2]\n";
  auto r = load_config_text(head + tail, "t.yaml");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].to_string();
  EXPECT_EQ(r.config->listeners[0].codec, Listener::Codec::kAuto);
  r = load_config_text(head + "    codec: http2\n" + tail, "t.yaml");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].to_string();
  EXPECT_EQ(r.config->listeners[0].codec, Listener::Codec::kHttp2);
  r = load_config_text(head + "    codec: http1\n" + tail, "t.yaml");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].to_string();
  EXPECT_EQ(r.config->listeners[0].codec, Listener::Codec::kHttp1);
  auto errors = errors_of(head + "    codec: h3\n" + tail);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], "t.yaml:4:12: codec 'h3' is not one of auto, http1, http2");
  errors = errors_of(
      "listeners:\n  - name: a\n    protocol: tcp\n    listen: 127.0.0.1:1\n    cluster: c\n"
      "    codec: http2\nclusters:\n  - name: c\n    endpoints: [127.0.0.1:2]\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], "t.yaml:6:12: codec applies to http and https listeners");
}

}  // namespace
}  // namespace sluice::config
