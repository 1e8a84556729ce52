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
