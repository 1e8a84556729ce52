#include "app/explain.h"

#include <fmt/format.h>

#include "balance/balancer.h"
#include "http/path_normalizer.h"
#include "http/request_parser.h"
#include "l7/request_key.h"
#include "l7/router.h"

namespace sluice::app {

int explain(const config::Config& config, const ExplainRequest& request) {
  std::string_view url = request.url;
  if (url.substr(0, 7) != "http://") {
    fmt::print(stderr, "explain: the URL must start with http://\n");
    return 2;
  }
  auto rest = url.substr(7);
  auto slash = rest.find_first_of("/?");
  std::string authority(rest.substr(0, slash));
  std::string target(slash == std::string_view::npos ? "/" : rest.substr(slash));
  if (target.front() == '?') target = "/" + target;

  // Build a real request head and parse it with the same strict parser the proxy uses.
  std::string raw = request.method + " " + target + " HTTP/1.1\r\n";
  bool has_host = false;
  for (const auto& h : request.headers) {
    if (h.size() >= 5 && strncasecmp(h.c_str(), "host:", 5) == 0) has_host = true;
    raw += h + "\r\n";
  }
  if (!has_host) raw += "Host: " + authority + "\r\n";
  raw += "\r\n";
  http::RequestParser parser({});
  http::RequestHead head;
  auto pr = parser.parse(raw, &head);
  if (!pr.ok()) {
    fmt::print("request: rejected with {} ({})\n", pr.is_error() ? pr.status : 400, pr.reason);
    return 2;
  }
  auto source = core::IpAddress::parse(request.source);
  if (!source) {
    fmt::print(stderr, "explain: bad --source address '{}'\n", request.source);
    return 2;
  }

  // Listener: the one whose port is in the URL, else the first.
  uint16_t port = 80;
  if (auto colon = authority.rfind(':'); colon != std::string::npos && authority.back() != ']') {
    port = static_cast<uint16_t>(std::stoi(authority.substr(colon + 1)));
  }
  size_t li = 0;
  for (size_t i = 0; i < config.listeners.size(); ++i) {
    if (config.listeners[i].listen.port == port) {
      li = i;
      break;
    }
  }
  const auto& listener = config.listeners[li];
  fmt::print("listener: {} ({}){}\n", listener.name, listener.listen.to_string(),
             listener.listen.port == port
                 ? ""
                 : fmt::format(" - no listener on port {}, using the first", port));

  std::string path;
  http::normalize_path(head.path, &path);
  std::string host;
  l7::canonical_host(head.host, &host);
  fmt::print("request: {} host={} path={}{}{}\n", head.method, host, path,
             head.query.empty() ? "" : " query=", head.query);
  if (path != head.path) fmt::print("  (path normalised from {})\n", head.path);

  l7::Router router(listener, config);
  l7::RouteInput in{head.method, host, path, head.query, &head.headers, *source, {}, {}};
  const l7::CompiledRoute* match = nullptr;
  for (const auto& r : router.routes()) {
    const char* why = router.mismatch(r, in);
    if (why) {
      fmt::print("route {}: no match ({} differs)\n", r.route->name, why);
    } else {
      fmt::print("route {}: MATCH -> cluster {}\n", r.route->name, r.route->cluster);
      match = &r;
      break;
    }
  }
  if (!match) {
    fmt::print("result: 404, no route matches\n");
    return 1;
  }
  const auto& cluster = config.clusters[match->cluster_index];
  std::vector<balance::EndpointSpec> specs;
  for (const auto& e : cluster.endpoints) specs.push_back({e.address.to_string(), e.weight});
  auto balancer = balance::make_balancer(cluster.balance, specs);
  balance::PickContext ctx;
  if (balance::uses_hash(cluster.balance)) {
    ctx.hash =
        l7::request_hash(cluster.hash_on, cluster.balance == "source_ip", head, path, *source);
  }
  int index = balancer->pick(ctx);
  fmt::print("cluster: {} (balance {}, {} endpoints)\n", cluster.name, cluster.balance,
             specs.size());
  if (balance::uses_hash(cluster.balance)) {
    fmt::print(
        "endpoint: {} (consistent hash of the request key: always this one while the endpoint set "
        "is unchanged)\n",
        specs[index].key);
  } else {
    fmt::print("endpoint: {} would be first on a fresh worker ({} depends on load and order)\n",
               specs[index].key, cluster.balance);
  }
  return 0;
}

}  // namespace sluice::app
