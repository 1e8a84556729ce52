#include "admin/prometheus.h"

#include <fmt/format.h>

#include <map>

#include "core/version.h"

namespace sluice::admin {
namespace {

std::string escape_label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out.append("\\n");
      continue;
    }
    out.push_back(c);
  }
  return out;
}

struct Sums {
  std::map<std::tuple<std::string, std::string, std::string>, std::array<uint64_t, 8>> routes;
  std::map<std::string, std::array<uint64_t, 8>> clusters;
  struct Listener {
    uint64_t accepted = 0;
    int64_t active = 0;
    uint64_t parse_errors = 0;
    uint64_t body_errors_before = 0, body_errors_after = 0;
    uint64_t rejected_connections = 0;
    std::array<uint64_t, static_cast<size_t>(l7::TimeoutKind::kCount)> timeouts{};
    uint64_t rejected_rate = 0;
    uint64_t rejected_max = 0;
    uint64_t tls_full = 0, tls_resumed = 0, tls_failed = 0;
    std::map<int, uint64_t> local;
    std::array<uint64_t, l7::LatencyHistogram::kBoundsSeconds.size() + 1> buckets{};
    uint64_t sum_micros = 0;
    uint64_t count = 0;
  };
  std::map<std::string, Listener> listeners;
  std::map<std::pair<std::string, std::string>, uint64_t> endpoint_active;
};

}  // namespace

std::string render_prometheus(const std::vector<const l7::WorkerStats*>& workers,
                              const ProcessCounters& process) {
  Sums sums;
  for (const auto* w : workers) {
    w->visit([&](const auto& routes, const auto& clusters, const auto& listeners,
                 const auto& endpoints) {
      for (const auto& [key, rs] : routes) {
        auto& s = sums.routes[key];
        for (int i = 1; i <= 5; ++i) s[i] += rs.by_class[i].get();
        s[6] += rs.bytes_received.get();
        s[7] += rs.bytes_sent.get();
      }
      for (const auto& [name, cs] : clusters) {
        auto& s = sums.clusters[name];
        s[0] += cs.upstream_connections.get();
        s[1] += cs.upstream_reused.get();
        s[2] += cs.connect_errors.get();
        s[3] += cs.bad_gateway.get();
        s[4] += cs.unavailable.get();
        s[5] += cs.timeouts.get();
        s[6] += cs.retries.get();
        s[7] += cs.retries_over_budget.get();
      }
      for (const auto& [name, ls] : listeners) {
        auto& s = sums.listeners[name];
        s.accepted += ls.accepted.get();
        s.active += ls.active_connections.get();
        s.parse_errors += ls.parse_errors.get();
        s.body_errors_before += ls.body_errors_before_upstream.get();
        s.body_errors_after += ls.body_errors_after_upstream.get();
        s.rejected_connections += ls.rejected_connections_per_ip.get();
        s.rejected_rate += ls.rejected_rate_per_ip.get();
        s.rejected_max += ls.rejected_max_connections.get();
        s.tls_full += ls.tls_handshakes.get() - ls.tls_resumed.get();
        s.tls_resumed += ls.tls_resumed.get();
        s.tls_failed += ls.tls_handshake_failures.get();
        for (size_t k = 0; k < s.timeouts.size(); ++k) s.timeouts[k] += ls.timeouts[k].get();
        for (int status = 100; status < 600; ++status) {
          if (auto v = ls.local_responses[status].get()) s.local[status] += v;
        }
        for (size_t i = 0; i < s.buckets.size(); ++i) s.buckets[i] += ls.latency.buckets[i].get();
        s.sum_micros += ls.latency.sum_micros.get();
        s.count += ls.latency.count.get();
      }
      for (const auto& [cluster, gauges] : endpoints) {
        for (size_t i = 0; i < gauges->addresses.size(); ++i) {
          sums.endpoint_active[{cluster, gauges->addresses[i]}] +=
              gauges->active[i].load(std::memory_order_relaxed);
        }
      }
    });
  }

  struct StreamSums {
    uint64_t connections = 0, from_client = 0, to_client = 0, connect_failures = 0, no_endpoint = 0,
             idle = 0, max_duration = 0, bad_client_hello = 0, no_route = 0, bad_proxy_header = 0,
             untrusted = 0, udp_rejected = 0, udp_dropped = 0;
    int64_t active = 0;
  };
  std::map<std::string, StreamSums> streams;
  for (const auto* w : workers) {
    w->visit_streams([&](const auto& all) {
      for (const auto& [name, st] : all) {
        auto& s = streams[name];
        s.connections += st.connections.get();
        s.active += st.active.get();
        s.from_client += st.bytes_from_client.get();
        s.to_client += st.bytes_to_client.get();
        s.connect_failures += st.connect_failures.get();
        s.no_endpoint += st.no_endpoint.get();
        s.idle += st.idle_timeouts.get();
        s.max_duration += st.max_duration.get();
        s.bad_client_hello += st.bad_client_hello.get();
        s.no_route += st.no_route.get();
        s.bad_proxy_header += st.bad_proxy_header.get();
        s.untrusted += st.untrusted_proxy_source.get();
        s.udp_rejected += st.udp_sessions_rejected.get();
        s.udp_dropped += st.udp_datagrams_dropped.get();
      }
    });
  }
  std::string out;
  auto o = std::back_inserter(out);
  if (!streams.empty()) {
    fmt::format_to(o,
                   "# HELP sluice_stream_connections_total TCP connections proxied.\n# TYPE "
                   "sluice_stream_connections_total counter\n");
    for (const auto& [n, s] : streams)
      fmt::format_to(o, "sluice_stream_connections_total{{listener=\"{}\"}} {}\n", escape_label(n),
                     s.connections);
    fmt::format_to(o,
                   "# HELP sluice_stream_connections_active TCP connections open.\n# TYPE "
                   "sluice_stream_connections_active gauge\n");
    for (const auto& [n, s] : streams)
      fmt::format_to(o, "sluice_stream_connections_active{{listener=\"{}\"}} {}\n", escape_label(n),
                     s.active);
    fmt::format_to(o,
                   "# HELP sluice_stream_bytes_total Bytes moved, by direction.\n# TYPE "
                   "sluice_stream_bytes_total counter\n");
    for (const auto& [n, s] : streams) {
      fmt::format_to(o,
                     "sluice_stream_bytes_total{{listener=\"{}\",direction=\"from_client\"}} {}\n",
                     escape_label(n), s.from_client);
      fmt::format_to(o, "sluice_stream_bytes_total{{listener=\"{}\",direction=\"to_client\"}} {}\n",
                     escape_label(n), s.to_client);
    }
    fmt::format_to(o,
                   "# HELP sluice_stream_connect_failures_total Upstream connect attempts that "
                   "failed.\n# TYPE sluice_stream_connect_failures_total counter\n");
    for (const auto& [n, s] : streams)
      fmt::format_to(o, "sluice_stream_connect_failures_total{{listener=\"{}\"}} {}\n",
                     escape_label(n), s.connect_failures);
    fmt::format_to(o,
                   "# HELP sluice_stream_no_endpoint_total Connections closed because no endpoint "
                   "could be reached.\n# TYPE sluice_stream_no_endpoint_total counter\n");
    for (const auto& [n, s] : streams)
      fmt::format_to(o, "sluice_stream_no_endpoint_total{{listener=\"{}\"}} {}\n", escape_label(n),
                     s.no_endpoint);
    fmt::format_to(o,
                   "# HELP sluice_stream_timeouts_total Connections closed by a timeout, by "
                   "kind.\n# TYPE sluice_stream_timeouts_total counter\n");
    for (const auto& [n, s] : streams) {
      fmt::format_to(o, "sluice_stream_timeouts_total{{listener=\"{}\",kind=\"idle\"}} {}\n",
                     escape_label(n), s.idle);
      fmt::format_to(o,
                     "sluice_stream_timeouts_total{{listener=\"{}\",kind=\"max_duration\"}} {}\n",
                     escape_label(n), s.max_duration);
    }
    fmt::format_to(o,
                   "# HELP sluice_tls_passthrough_rejected_total Connections closed before a "
                   "route: bad or late ClientHello, or no route for the SNI.\n# TYPE "
                   "sluice_tls_passthrough_rejected_total counter\n");
    for (const auto& [n, s] : streams) {
      fmt::format_to(o,
                     "sluice_tls_passthrough_rejected_total{{listener=\"{}\",reason=\"bad_client_"
                     "hello\"}} {}\n",
                     escape_label(n), s.bad_client_hello);
      fmt::format_to(
          o, "sluice_tls_passthrough_rejected_total{{listener=\"{}\",reason=\"no_route\"}} {}\n",
          escape_label(n), s.no_route);
    }
    fmt::format_to(
        o,
        "# HELP sluice_proxy_protocol_rejected_total Connections refused on a listener that takes "
        "PROXY protocol headers.\n# TYPE sluice_proxy_protocol_rejected_total counter\n");
    for (const auto& [n, s] : streams) {
      fmt::format_to(
          o, "sluice_proxy_protocol_rejected_total{{listener=\"{}\",reason=\"bad_header\"}} {}\n",
          escape_label(n), s.bad_proxy_header);
      fmt::format_to(o,
                     "sluice_proxy_protocol_rejected_total{{listener=\"{}\",reason=\"untrusted_"
                     "source\"}} {}\n",
                     escape_label(n), s.untrusted);
    }
    fmt::format_to(o,
                   "# HELP sluice_udp_sessions_rejected_total New UDP sessions refused by the "
                   "listener's limits.\n# TYPE sluice_udp_sessions_rejected_total counter\n");
    for (const auto& [n, s] : streams)
      fmt::format_to(o, "sluice_udp_sessions_rejected_total{{listener=\"{}\"}} {}\n",
                     escape_label(n), s.udp_rejected);
    fmt::format_to(o,
                   "# HELP sluice_udp_datagrams_dropped_total Datagrams dropped because a socket "
                   "buffer was full.\n# TYPE sluice_udp_datagrams_dropped_total counter\n");
    for (const auto& [n, s] : streams)
      fmt::format_to(o, "sluice_udp_datagrams_dropped_total{{listener=\"{}\"}} {}\n",
                     escape_label(n), s.udp_dropped);
  }
  fmt::format_to(o, "# HELP sluice_info Build information.\n# TYPE sluice_info gauge\n");
  fmt::format_to(o, "sluice_info{{version=\"{}\"}} 1\n", core::kVersion);
  fmt::format_to(o,
                 "# HELP sluice_config_reloads_total Config reloads by result.\n# TYPE "
                 "sluice_config_reloads_total counter\n");
  fmt::format_to(o, "sluice_config_reloads_total{{result=\"ok\"}} {}\n", process.reloads_ok);
  fmt::format_to(o, "sluice_config_reloads_total{{result=\"error\"}} {}\n", process.reloads_failed);
  fmt::format_to(o,
                 "# HELP sluice_config_generation Generation of the running config (1 = as "
                 "started).\n# TYPE sluice_config_generation gauge\n");
  fmt::format_to(o, "sluice_config_generation {}\n", process.config_generation);

  fmt::format_to(o,
                 "# HELP sluice_http_requests_total HTTP requests by listener, route, cluster and "
                 "status class.\n# TYPE sluice_http_requests_total counter\n");
  static constexpr const char* kClass[] = {"", "1xx", "2xx", "3xx", "4xx", "5xx"};
  for (const auto& [key, s] : sums.routes) {
    const auto& [listener, route, cluster] = key;
    for (int i = 1; i <= 5; ++i) {
      if (s[i] == 0 && i != 2) continue;
      fmt::format_to(o,
                     "sluice_http_requests_total{{listener=\"{}\",route=\"{}\",cluster=\"{}\","
                     "class=\"{}\"}} {}\n",
                     escape_label(listener), escape_label(route), escape_label(cluster), kClass[i],
                     s[i]);
    }
  }
  fmt::format_to(o,
                 "# HELP sluice_http_request_body_bytes_total Request body bytes sent upstream.\n# "
                 "TYPE sluice_http_request_body_bytes_total counter\n");
  for (const auto& [key, s] : sums.routes) {
    fmt::format_to(
        o,
        "sluice_http_request_body_bytes_total{{listener=\"{}\",route=\"{}\",cluster=\"{}\"}} {}\n",
        escape_label(std::get<0>(key)), escape_label(std::get<1>(key)),
        escape_label(std::get<2>(key)), s[6]);
  }
  fmt::format_to(o,
                 "# HELP sluice_http_response_body_bytes_total Response body bytes sent to "
                 "clients.\n# TYPE sluice_http_response_body_bytes_total counter\n");
  for (const auto& [key, s] : sums.routes) {
    fmt::format_to(
        o,
        "sluice_http_response_body_bytes_total{{listener=\"{}\",route=\"{}\",cluster=\"{}\"}} {}\n",
        escape_label(std::get<0>(key)), escape_label(std::get<1>(key)),
        escape_label(std::get<2>(key)), s[7]);
  }

  fmt::format_to(o,
                 "# HELP sluice_downstream_connections_total Accepted client connections.\n# TYPE "
                 "sluice_downstream_connections_total counter\n");
  for (const auto& [name, s] : sums.listeners) {
    fmt::format_to(o, "sluice_downstream_connections_total{{listener=\"{}\"}} {}\n",
                   escape_label(name), s.accepted);
  }
  fmt::format_to(o,
                 "# HELP sluice_downstream_connections_active Open client connections.\n# TYPE "
                 "sluice_downstream_connections_active gauge\n");
  for (const auto& [name, s] : sums.listeners) {
    fmt::format_to(o, "sluice_downstream_connections_active{{listener=\"{}\"}} {}\n",
                   escape_label(name), s.active);
  }
  fmt::format_to(o,
                 "# HELP sluice_downstream_connections_rejected_total Connections closed at accept "
                 "by the listener limits.\n# TYPE sluice_downstream_connections_rejected_total "
                 "counter\n");
  for (const auto& [name, s] : sums.listeners) {
    fmt::format_to(o,
                   "sluice_downstream_connections_rejected_total{{listener=\"{}\",reason=\"max_"
                   "connections_per_ip\"}} {}\n",
                   escape_label(name), s.rejected_connections);
    fmt::format_to(o,
                   "sluice_downstream_connections_rejected_total{{listener=\"{}\",reason="
                   "\"connection_rate_per_ip\"}} {}\n",
                   escape_label(name), s.rejected_rate);
    fmt::format_to(o,
                   "sluice_downstream_connections_rejected_total{{listener=\"{}\",reason="
                   "\"max_connections\"}} {}\n",
                   escape_label(name), s.rejected_max);
  }
  fmt::format_to(o,
                 "# HELP sluice_tls_handshakes_total TLS handshakes on https listeners, by "
                 "result.\n# TYPE sluice_tls_handshakes_total counter\n");
  for (const auto& [name, s] : sums.listeners) {
    if (s.tls_full + s.tls_resumed + s.tls_failed == 0) continue;
    for (auto [result, v] : {std::pair{"full", s.tls_full}, std::pair{"resumed", s.tls_resumed},
                             std::pair{"failed", s.tls_failed}}) {
      fmt::format_to(o, "sluice_tls_handshakes_total{{listener=\"{}\",result=\"{}\"}} {}\n",
                     escape_label(name), result, v);
    }
  }
  fmt::format_to(o,
                 "# HELP sluice_timeouts_total Deadlines that passed, by kind.\n# TYPE "
                 "sluice_timeouts_total counter\n");
  for (const auto& [name, s] : sums.listeners) {
    for (size_t k = 1; k < s.timeouts.size(); ++k) {
      fmt::format_to(o, "sluice_timeouts_total{{listener=\"{}\",kind=\"{}\"}} {}\n",
                     escape_label(name), l7::kTimeoutKindNames[k], s.timeouts[k]);
    }
  }
  fmt::format_to(o,
                 "# HELP sluice_http_parse_errors_total Requests rejected as malformed.\n# TYPE "
                 "sluice_http_parse_errors_total counter\n");
  for (const auto& [name, s] : sums.listeners) {
    fmt::format_to(o, "sluice_http_parse_errors_total{{listener=\"{}\"}} {}\n", escape_label(name),
                   s.parse_errors);
  }
  fmt::format_to(o,
                 "# HELP sluice_http_request_body_errors_total Malformed request bodies, by "
                 "whether any of the request had gone upstream.\n# TYPE "
                 "sluice_http_request_body_errors_total counter\n");
  for (const auto& [name, s] : sums.listeners) {
    fmt::format_to(
        o,
        "sluice_http_request_body_errors_total{{listener=\"{}\",stage=\"before_upstream\"}}"
        " {}\nsluice_http_request_body_errors_total{{listener=\"{}\",stage=\"after_"
        "upstream\"}} {}\n",
        escape_label(name), s.body_errors_before, escape_label(name), s.body_errors_after);
  }
  fmt::format_to(o,
                 "# HELP sluice_http_local_responses_total Responses generated by sluice itself, "
                 "by status.\n# TYPE sluice_http_local_responses_total counter\n");
  for (const auto& [name, s] : sums.listeners) {
    for (const auto& [status, v] : s.local) {
      fmt::format_to(o, "sluice_http_local_responses_total{{listener=\"{}\",status=\"{}\"}} {}\n",
                     escape_label(name), status, v);
    }
  }
  fmt::format_to(o,
                 "# HELP sluice_http_request_duration_seconds Time from request head to last "
                 "response byte.\n# TYPE sluice_http_request_duration_seconds histogram\n");
  for (const auto& [name, s] : sums.listeners) {
    uint64_t cumulative = 0;
    for (size_t i = 0; i < s.buckets.size(); ++i) {
      cumulative += s.buckets[i];
      if (i < l7::LatencyHistogram::kBoundsSeconds.size()) {
        fmt::format_to(
            o, "sluice_http_request_duration_seconds_bucket{{listener=\"{}\",le=\"{}\"}} {}\n",
            escape_label(name), l7::LatencyHistogram::kBoundsSeconds[i], cumulative);
      } else {
        fmt::format_to(
            o, "sluice_http_request_duration_seconds_bucket{{listener=\"{}\",le=\"+Inf\"}} {}\n",
            escape_label(name), cumulative);
      }
    }
    fmt::format_to(o, "sluice_http_request_duration_seconds_sum{{listener=\"{}\"}} {:.6f}\n",
                   escape_label(name), static_cast<double>(s.sum_micros) / 1e6);
    fmt::format_to(o, "sluice_http_request_duration_seconds_count{{listener=\"{}\"}} {}\n",
                   escape_label(name), s.count);
  }

  static constexpr const char* kClusterMetrics[][2] = {
      {"sluice_upstream_connections_total", "Upstream connections opened."},
      {"sluice_upstream_reused_total", "Requests sent on a pooled keep-alive upstream connection."},
      {"sluice_upstream_connect_errors_total", "Failed upstream connection attempts."},
      {"sluice_upstream_bad_gateway_total",
       "Requests answered 502 (upstream broke or sent a bad response)."},
      {"sluice_upstream_unavailable_total",
       "Requests answered 503 (no endpoint could be reached)."},
      {"sluice_upstream_timeouts_total",
       "Requests answered 504 (upstream did not answer in time)."},
      {"sluice_upstream_retries_total", "Tries after the first (retry policy)."},
      {"sluice_upstream_retries_over_budget_total",
       "Retries not made because the retry budget was spent."},
  };
  for (size_t m = 0; m < std::size(kClusterMetrics); ++m) {
    fmt::format_to(o, "# HELP {} {}\n# TYPE {} counter\n", kClusterMetrics[m][0],
                   kClusterMetrics[m][1], kClusterMetrics[m][0]);
    for (const auto& [name, s] : sums.clusters) {
      fmt::format_to(o, "{}{{cluster=\"{}\"}} {}\n", kClusterMetrics[m][0], escape_label(name),
                     s[m]);
    }
  }
  fmt::format_to(o,
                 "# HELP sluice_endpoint_active_requests Requests in flight per endpoint.\n# TYPE "
                 "sluice_endpoint_active_requests gauge\n");
  for (const auto& [key, v] : sums.endpoint_active) {
    fmt::format_to(o, "sluice_endpoint_active_requests{{cluster=\"{}\",endpoint=\"{}\"}} {}\n",
                   escape_label(key.first), escape_label(key.second), v);
  }
  return out;
}

}  // namespace sluice::admin
