#include "l7/router.h"

#include <gtest/gtest.h>

#include "config/loader.h"

namespace sluice::l7 {
namespace {

constexpr const char* kConfig = R"(listeners:
  - name: web
    listen: 127.0.0.1:8080
    routes:
      - name: exact-host
        match: { host: api.example.com, path_prefix: /orders }
        cluster: a
      - name: wildcard
        match: { host: "*.example.com" }
        cluster: a
      - name: exact-path
        match: { path_exact: /login, method: POST }
        cluster: a
      - name: regex
        match: { path_regex: "/items/[0-9]+" }
        cluster: a
      - name: header
        match: { headers: { x-tenant: acme } }
        cluster: a
      - name: header-regex
        match: { headers: { x-version: { regex: "v[23]" } } }
        cluster: a
      - name: header-present
        match: { headers: { x-debug: { present: true } } }
        cluster: a
      - name: query
        match: { query: { q: "a b" } }
        cluster: a
      - name: cookie
        match: { cookie: { session: { regex: "s-.*" } } }
        cluster: a
      - name: source
        match: { source: [10.0.0.0/8] }
        cluster: a
      - name: admin
        match: { path_prefix: /admin }
        cluster: b
      - name: catch-all
        cluster: b
clusters:
  - { name: a, endpoints: [127.0.0.1:1] }
  - { name: b, endpoints: [127.0.0.1:2] }
)";

class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = config::load_config_text(kConfig, "t.yaml");
    ASSERT_TRUE(r.errors.empty()) << r.errors[0].to_string();
    config_ = r.config;
    router_ = std::make_unique<Router>(config_->listeners[0], *config_);
  }

  std::string route(std::string_view method, std::string_view host, std::string_view path,
                    std::vector<http::Header> headers = {}, std::string_view query = {},
                    std::string_view source = "127.0.0.1") {
    for (auto& h : headers) h.id = http::classify_header(h.name);  // as the parser does
    RouteInput in{method, host, path, query, &headers, *core::IpAddress::parse(source)};
    auto* r = router_->match(in);
    return r ? r->route->name : "404";
  }

  std::shared_ptr<const config::Config> config_;
  std::unique_ptr<Router> router_;
};

TEST_F(RouterTest, EachMatcher) {
  EXPECT_EQ(route("GET", "api.example.com", "/orders/1"), "exact-host");
  EXPECT_EQ(route("GET", "api.example.com", "/other"), "wildcard");
  EXPECT_EQ(route("GET", "deep.sub.example.com", "/"), "wildcard");
  EXPECT_EQ(route("GET", "example.com", "/"), "catch-all");  // *.x does not match x itself
  EXPECT_EQ(route("POST", "h", "/login"), "exact-path");
  EXPECT_EQ(route("GET", "h", "/login"), "catch-all");
  EXPECT_EQ(route("GET", "h", "/items/42"), "regex");
  EXPECT_EQ(route("GET", "h", "/items/42/x"), "catch-all");  // regex is a full match
  EXPECT_EQ(route("GET", "h", "/", {{"X-Tenant", "acme"}}), "header");
  EXPECT_EQ(route("GET", "h", "/", {{"x-tenant", "other"}}), "catch-all");
  EXPECT_EQ(route("GET", "h", "/", {{"x-version", "v3"}}), "header-regex");
  EXPECT_EQ(route("GET", "h", "/", {{"x-debug", ""}}), "header-present");
  EXPECT_EQ(route("GET", "h", "/", {}, "x=1&q=a+b"), "query");
  EXPECT_EQ(route("GET", "h", "/", {}, "q=a%20b"), "query");
  EXPECT_EQ(route("GET", "h", "/", {{"Cookie", "a=1; session=s-123"}}), "cookie");
  EXPECT_EQ(route("GET", "h", "/", {{"Cookie", "session=x"}}), "catch-all");
  EXPECT_EQ(route("GET", "h", "/", {}, {}, "10.9.8.7"), "source");
  EXPECT_EQ(route("GET", "h", "/admin/users"), "admin");
}

TEST_F(RouterTest, FirstMatchWinsInFileOrder) {
  // matches exact-host and header: the earlier one wins
  EXPECT_EQ(route("GET", "api.example.com", "/orders", {{"x-tenant", "acme"}}), "exact-host");
}

TEST_F(RouterTest, MismatchNamesTheFailingMatcher) {
  std::vector<http::Header> none;
  RouteInput in{"GET", "other.org", "/orders", {}, &none, *core::IpAddress::parse("127.0.0.1")};
  EXPECT_STREQ(router_->mismatch(router_->routes()[0], in), "host");
}

TEST(CanonicalHost, StripsPortAndLowercases) {
  std::string out;
  canonical_host("API.Example.COM:8080", &out);
  EXPECT_EQ(out, "api.example.com");
  canonical_host("[::1]:80", &out);
  EXPECT_EQ(out, "[::1]");
  canonical_host("example.com.", &out);
  EXPECT_EQ(out, "example.com");
}

}  // namespace
}  // namespace sluice::l7

#include "l7/request_key.h"

namespace sluice::l7 {
namespace {

http::RequestHead head_with(std::vector<http::Header> headers) {
  http::RequestHead h;
  for (auto& x : headers) x.id = http::classify_header(x.name);
  h.headers = std::move(headers);
  return h;
}

TEST(RequestHash, KeysAndFallbackToSourceIp) {
  auto ip1 = *core::IpAddress::parse("10.0.0.1");
  auto ip2 = *core::IpAddress::parse("10.0.0.2");
  config::HashOn header{config::HashOn::Kind::kHeader, "x-user"};
  config::HashOn cookie{config::HashOn::Kind::kCookie, "sid"};
  config::HashOn path{config::HashOn::Kind::kPath, ""};
  auto alice = head_with({{"X-User", "alice"}});
  // same key, different clients: same hash; different keys: different hashes
  EXPECT_EQ(request_hash(header, false, alice, "/", ip1),
            request_hash(header, false, alice, "/", ip2));
  EXPECT_NE(request_hash(header, false, alice, "/", ip1),
            request_hash(header, false, head_with({{"x-user", "bob"}}), "/", ip1));
  auto with_cookie = head_with({{"Cookie", "a=1; sid=\"s1\""}});
  EXPECT_EQ(request_hash(cookie, false, with_cookie, "/", ip1),
            request_hash(cookie, false, with_cookie, "/", ip2));
  EXPECT_EQ(request_hash(path, false, alice, "/a", ip1),
            request_hash(path, false, alice, "/a", ip2));
  EXPECT_NE(request_hash(path, false, alice, "/a", ip1),
            request_hash(path, false, alice, "/b", ip1));
  // no key: the client's address decides, so one client still sticks
  auto none = head_with({});
  EXPECT_EQ(request_hash(header, false, none, "/", ip1),
            request_hash(cookie, false, none, "/x", ip1));
  EXPECT_NE(request_hash(header, false, none, "/", ip1),
            request_hash(header, false, none, "/", ip2));
  // source_ip balance ignores hash_on
  EXPECT_EQ(request_hash(header, true, alice, "/", ip1),
            request_hash(header, true, none, "/", ip1));
}

TEST(FindCookie, ParsesPairsAndQuotes) {
  auto h = head_with({{"Cookie", "a=1;b=2"}, {"cookie", " c = 3; d=\"4\""}});
  EXPECT_EQ(find_cookie(h.headers, "b"), "2");
  EXPECT_EQ(find_cookie(h.headers, "d"), "4");
  EXPECT_FALSE(find_cookie(h.headers, "e"));
}

TEST(PathSegmentPrefix, MatchesWholeSegmentsOnly) {
  EXPECT_TRUE(path_segment_prefix_matches("/api", "/api"));
  EXPECT_TRUE(path_segment_prefix_matches("/api", "/api/"));
  EXPECT_TRUE(path_segment_prefix_matches("/api", "/api/v1/x"));
  EXPECT_FALSE(path_segment_prefix_matches("/api", "/apiary"));
  EXPECT_FALSE(path_segment_prefix_matches("/api", "/ap"));
  EXPECT_TRUE(path_segment_prefix_matches("/api/", "/api"));  // a trailing slash is ignored
  EXPECT_TRUE(path_segment_prefix_matches("/api/", "/api/v1"));
  EXPECT_FALSE(path_segment_prefix_matches("/api/", "/apiary"));
  EXPECT_TRUE(path_segment_prefix_matches("/", "/anything"));
  EXPECT_TRUE(path_segment_prefix_matches("/", "/"));
}

TEST(PathSegmentPrefix, RoutesAndNamesItselfInAMismatch) {
  auto r = config::load_config_text(R"(listeners:
  - name: web
    listen: 127.0.0.1:8080
    routes:
      - { name: api, match: { path_segment_prefix: /api }, cluster: a }
      - { name: rest, cluster: b }
clusters:
  - { name: a, endpoints: [127.0.0.1:1] }
  - { name: b, endpoints: [127.0.0.1:2] }
)",
                                    "t.yaml");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].to_string();
  Router router(r.config->listeners[0], *r.config);
  const std::vector<http::Header> none;
  auto route_of = [&](std::string_view path) {
    RouteInput in{};
    in.path = path;
    in.headers = &none;
    return router.match(in)->route->name;
  };
  EXPECT_EQ(route_of("/api"), "api");
  EXPECT_EQ(route_of("/api/orders"), "api");
  EXPECT_EQ(route_of("/apiary"), "rest");
  RouteInput in{};
  in.path = "/apiary";
  in.headers = &none;
  EXPECT_STREQ(router.mismatch(router.routes()[0], in), "path_segment_prefix");

  auto bad = config::load_config_text(R"(listeners:
  - { name: web, listen: 127.0.0.1:8080, routes: [{ match: { path_segment_prefix: api }, cluster: a }] }
clusters:
  - { name: a, endpoints: [127.0.0.1:1] }
)",
                                      "t.yaml");
  ASSERT_EQ(bad.errors.size(), 1u);
  EXPECT_NE(bad.errors[0].to_string().find("t.yaml:2:"), std::string::npos);
  EXPECT_NE(bad.errors[0].to_string().find("path_segment_prefix must start with '/'"),
            std::string::npos);
}

}  // namespace
}  // namespace sluice::l7
