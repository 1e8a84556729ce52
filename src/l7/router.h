#pragma once
// Compiled routes of one listener. First match wins, in file order. Matching reads the request
// head and the normalised path and allocates nothing; regexes are RE2 (linear time, safe on
// hostile input) compiled once per config.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <re2/re2.h>

#include "config/config.h"
#include "core/address.h"
#include "http/message.h"

namespace sluice::l7 {

// What the router looks at. `path` is already normalised; `host` is the Host without port,
// lower-cased by the caller.
struct RouteInput {
  std::string_view method;
  std::string_view host;
  std::string_view path;
  std::string_view query;
  const std::vector<http::Header>* headers = nullptr;
  core::IpAddress source;
  std::string_view sni;                  // tls_passthrough
  std::string_view client_cert_subject;  // https with a verified client certificate
};

struct CompiledRoute {
  const config::Route* route = nullptr;
  uint32_t index = 0;          // position in the listener's routes
  uint32_t cluster_index = 0;  // position in config.clusters
  std::unique_ptr<RE2> path_regex;
  std::vector<std::unique_ptr<RE2>> header_regex;  // parallel to match.headers (null if not regex)
  std::vector<std::unique_ptr<RE2>> query_regex;
  std::vector<std::unique_ptr<RE2>> cookie_regex;
};

class Router {
 public:
  Router(const config::Listener& listener, const config::Config& config);

  // The first matching route, or null (404).
  const CompiledRoute* match(const RouteInput& in) const;
  // Null if `route` matches, else the name of the first matcher that did not (for `explain`).
  const char* mismatch(const CompiledRoute& route, const RouteInput& in) const;
  const std::vector<CompiledRoute>& routes() const { return routes_; }

 private:
  std::vector<CompiledRoute> routes_;
};

// Host header value -> lower-case name without port, into `out` (for the router input).
void canonical_host(std::string_view host, std::string* out);
// Whether `path` is under `prefix` by whole segments, as Kubernetes' `Prefix` and Gateway API's
// `PathPrefix` match: `/api` matches `/api`, `/api/` and `/api/x`, not `/apiary`; a trailing
// slash of the prefix is ignored, and `/` matches every path.
bool path_segment_prefix_matches(std::string_view prefix, std::string_view path);
// Percent-decodes a query or cookie value ('+' is a space in queries); false on bad encoding.
bool percent_decode(std::string_view in, bool plus_is_space, std::string* out);

}  // namespace sluice::l7
