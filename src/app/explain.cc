#include "app/explain.h"

#include <fmt/format.h>
#include <linux/bpf.h>

#include <cstring>

#include "balance/balancer.h"
#include "http/path_normalizer.h"
#include "http/request_parser.h"
#include "l7/request_key.h"
#include "l7/router.h"
#include "packet/flow.h"
#include "packet/frame.h"
#include "packet/xdp_balancer.h"

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
    ctx.hash = l7::request_hash(cluster.hash_on, cluster.balance == balance::Kind::kSourceIp, head,
                                path, *source);
  }
  int index = balancer->pick(ctx);
  fmt::print("cluster: {} (balance {}, {} endpoints)\n", cluster.name,
             balance::kind_name(cluster.balance), specs.size());
  if (balance::uses_hash(cluster.balance)) {
    fmt::print(
        "endpoint: {} (consistent hash of the request key: always this one while the endpoint set "
        "is unchanged)\n",
        specs[index].key);
  } else {
    fmt::print("endpoint: {} would be first on a fresh worker ({} depends on load and order)\n",
               specs[index].key, balance::kind_name(cluster.balance));
  }
  return 0;
}

namespace {

const config::PacketVip* matching_vip(const config::PacketTier& tier, const packet::FlowSpec& f) {
  const bool ports = f.proto == packet::kProtoTcp || f.proto == packet::kProtoUdp;
  const std::string proto = f.proto == packet::kProtoTcp ? "tcp" : "udp";
  auto find = [&](auto&& pred) -> const config::PacketVip* {
    for (const auto& v : tier.vips) {
      if (v.address == f.dst.ip && pred(v)) return &v;
    }
    return nullptr;
  };
  if (ports) {
    if (auto* v = find([&](const auto& v) {
          return v.mode == "l4" && v.protocol == proto && v.port == f.dst.port;
        }))
      return v;
    if (auto* v = find(
            [&](const auto& v) { return v.mode == "l4" && v.protocol == proto && v.port == 0; }))
      return v;
  }
  return find([](const auto& v) { return v.mode == "l3"; });
}

std::string ip_at(const std::vector<uint8_t>& frame, size_t at, bool v4) {
  __u32 words[4] = {};
  std::memcpy(words, frame.data() + at, v4 ? 4 : 16);
  return packet::get_address(words, v4 ? 4 : 6).to_string();
}

}  // namespace

int explain_packet(const config::Config& config, const std::string& flow_text) {
  if (!config.packet) {
    fmt::print(stderr, "explain --packet: {} has no packet section\n", config.file);
    return 2;
  }
  std::string error;
  auto spec = packet::parse_flow_spec(flow_text, &error);
  if (!spec) {
    fmt::print(stderr, "explain --packet: {}\n", error);
    return 2;
  }
  // The loaded program itself decides, on a built packet (BPF_PROG_TEST_RUN): nothing is
  // attached and nothing is sent.
  auto lb = packet::XdpBalancer::load(1024, &error);
  if (!lb) {
    fmt::print(stderr, "explain --packet: {}\n", error);
    return 1;
  }
  packet::LbSettings settings;
  settings.gateway_mac = {0x02, 0, 0, 0, 0, 0xfe};
  settings.source_v4 = config.packet->source_v4;
  settings.source_v6 = config.packet->source_v6;
  settings.mtu = 0;  // explain does not know the interface; no MTU check
  if (!lb->configure(config.packet->vips, settings, nullptr, &error)) {
    fmt::print(stderr, "explain --packet: {}\n", error);
    return 1;
  }
  packet::FrameOptions options;
  options.tcp_flags = packet::kTcpSyn;
  const auto frame = packet::build_frame(*spec, options);
  const auto run = lb->test_run(frame);
  const auto* vip = matching_vip(*config.packet, *spec);
  fmt::print("packet: {}\n", flow_text);
  if (vip) {
    const uint32_t hash = packet::flow_hash(packet::make_flow(*spec), packet::vip_flags(*vip));
    fmt::print("vip: {} (mode {}, forward {}, hash {}, {} reals)\n", vip->name(), vip->mode,
               vip->forward, vip->hash_source_only ? "source_ip" : "flow", vip->reals.size());
    fmt::print("hash: {:#010x} over {} -> Maglev slot {} of {}: {}\n", hash,
               vip->hash_source_only ? "the source address"
               : vip->mode == "l3"   ? "both addresses"
                                     : "addresses, ports and protocol",
               hash % SLUICE_MAGLEV_SIZE, SLUICE_MAGLEV_SIZE,
               lb->table_real(vip->name(), hash).value_or("no table"));
  }
  const auto counters = lb->counters();
  switch (run.action) {
    case XDP_TX: {
      auto layout = packet::parse_layout(run.frame);
      if (!layout) break;
      const bool v4 = layout->family == 4;
      if (vip && vip->forward == "nat") {
        fmt::print("result: XDP_TX, destination rewritten to {}{} and sent to the gateway\n",
                   ip_at(run.frame, layout->l3 + (v4 ? 16 : 24), v4),
                   layout->l4 + 4 <= run.frame.size()
                       ? fmt::format(" port {}",
                                     run.frame[layout->l4 + 2] << 8 | run.frame[layout->l4 + 3])
                       : "");
      } else if (counters.reasons[SLUICE_TX_ICMP_ECHO].packets) {
        fmt::print("result: XDP_TX, sluice answers the echo request itself\n");
      } else {
        fmt::print(
            "result: XDP_TX, encapsulated in IPv{} ({} -> {}) and sent to the gateway; "
            "the real answers the client directly\n",
            layout->family, ip_at(run.frame, layout->l3 + (v4 ? 12 : 8), v4),
            ip_at(run.frame, layout->l3 + (v4 ? 16 : 24), v4));
      }
      fmt::print(
          "note: a new flow; an established l4 flow stays on the real it started on, "
          "and unhealthy or drained reals are not in the running node's table\n");
      return 0;
    }
    case XDP_PASS:
      fmt::print("result: XDP_PASS, not for a VIP: the kernel handles it\n");
      return 1;
    default:
      break;
  }
  std::string why = "unknown";
  for (int r = 0; r < SLUICE_REASON_COUNT; ++r) {
    if (counters.reasons[r].packets && packet::reason_name(r).substr(0, 5) == "drop_")
      why = std::string(packet::reason_name(r));
  }
  fmt::print("result: {} ({})\n", run.action == XDP_DROP ? "XDP_DROP" : "error", why);
  return 1;
}

}  // namespace sluice::app
